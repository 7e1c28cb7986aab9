"""LM access: every model call the engine makes goes through this package.

| module      | job                                                                          |
|-------------|------------------------------------------------------------------------------|
| `client`    | `LM`: dspy.LM over litellm, usage and cost, retries, streaming, prefix keys   |
| `build`     | the root LM, the sub-LM and named role LMs from settings (`NoModelError`)    |
| `facts`     | what a model can take: context window, chars per token, warm-up (no litellm) |
| `router`    | a LiteLLM Router's model groups behind `router/<group>` model strings         |

Importing the package loads nothing: `client` pulls in dspy and (lazily) litellm, `facts` neither.
"""
