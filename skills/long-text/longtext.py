"""Chunk, map and reduce long texts with batched sub-LM calls (runs inside the sandbox)."""


def chunk(text, size=20_000, overlap=500):
    """Overlapping chunks with their character offsets."""
    if size <= overlap:
        raise ValueError("size must be larger than overlap")
    chunks, start = [], 0
    while start < len(text) or not chunks:
        end = min(len(text), start + size)
        chunks.append({"index": len(chunks), "start": start, "end": end, "text": text[start:end]})
        if end == len(text):
            break
        start = end - overlap
    return chunks


def map_chunks(question, chunks, model=None):
    """Ask `question` of every chunk in parallel; drops chunks that answer NONE."""
    prompts = [f"{question}\n\n--- text [chars {c['start']}-{c['end']}] ---\n{c['text']}" for c in chunks]
    answers = llm_query_batched(prompts, model=model)  # noqa: F821 - a sandbox builtin
    notes = []
    for c, answer in zip(chunks, answers):
        if answer.strip().upper().startswith("NONE"):
            continue
        notes.append({"index": c["index"], "start": c["start"], "end": c["end"], "answer": answer.strip()})
    return notes


def reduce_answers(question, notes, model=None):
    """Combine per-chunk notes into one answer that cites chunk offsets."""
    if not notes:
        return "Nothing in the text answers this."
    body = "\n\n".join(f"[chars {n['start']}-{n['end']}] {n['answer']}" for n in notes)
    prompt = (f"{question}\n\nNotes from parts of a long text, each tagged with its character range:\n\n"
              f"{body}\n\nAnswer using only these notes and cite the ranges you rely on.")
    return llm_query(prompt, model=model)  # noqa: F821 - a sandbox builtin
