"""LM access: every model call the engine makes goes through this package.

| module      | job                                                                          |
|-------------|------------------------------------------------------------------------------|
| `client`    | `LM`: dspy.LM over litellm, usage and cost, retries, streaming, prefix keys   |
| `build`     | the root LM, the sub-LM and named role LMs from settings (`NoModelError`)    |
| `facts`     | what a model can take: context window, chars per token (no litellm)          |
| `warm`      | `warm_up`: load the LM client and an offline model's weights, with status    |
| `router`    | a LiteLLM Router's model groups behind `router/<group>` model strings         |
| `model_check` | can a model string be set: litellm knows its provider, offline model pulled |

Importing the package loads nothing: `client` pulls in dspy and (lazily) litellm; `facts` and
`warm` import them only when called.
"""
