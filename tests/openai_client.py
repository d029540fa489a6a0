"""The official `openai` Python client against rserve's OpenAI-compatible API.

Run by tests/openai.rs against a live node:
    python3 tests/openai_client.py BASE_URL EMBEDDINGS_MODEL FIXTURE_JSON
Exits non-zero (with the failing assertion) on any mismatch.
"""

import array
import base64
import json
import math
import sys

import openai

base_url, embed_model, fixture_path = sys.argv[1:4]
client = openai.OpenAI(base_url=base_url, api_key="not-needed", max_retries=0, timeout=60)

# /v1/models lists the deployment under its model name.
ids = [m.id for m in client.models.list().data]
assert embed_model in ids, ids
assert client.models.retrieve(embed_model).id == embed_model

fixture = json.load(open(fixture_path))
cases = [c for c in fixture["cases"] if c["text"].strip()][:6]
texts = [c["text"] for c in cases]


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


# The client asks for base64 by default and decodes it; ask for floats too.
for fmt in (openai.NOT_GIVEN, "float", "base64"):
    resp = client.embeddings.create(model=embed_model, input=texts, encoding_format=fmt)
    assert resp.model == embed_model, resp.model
    assert [d.index for d in resp.data] == list(range(len(texts)))
    assert resp.usage.prompt_tokens == sum(len(c["token_ids_truncated"]) for c in cases), resp.usage
    for case, item in zip(cases, resp.data):
        vector = item.embedding
        if isinstance(vector, str):  # explicit base64 is returned raw: little-endian f32
            vector = array.array("f", base64.b64decode(vector)).tolist()
        assert len(vector) == 384, len(vector)
        cos = cosine(vector, case["embedding"])
        assert cos >= 0.999, (case["name"], fmt, cos)

one = client.embeddings.create(model=embed_model, input="The cat sits on the mat.", encoding_format="float")
assert len(one.data) == 1 and abs(sum(x * x for x in one.data[0].embedding) - 1.0) < 1e-4

# Errors come back as OpenAI error objects the client maps to its exceptions.
try:
    client.embeddings.create(model="no-such-model", input="x")
    raise AssertionError("unknown model accepted")
except openai.NotFoundError as e:
    assert "no-such-model" in str(e), e
try:
    client.embeddings.create(model=embed_model, input=[])
    raise AssertionError("empty input accepted")
except openai.BadRequestError as e:
    assert e.body["param"] == "input", e.body
try:
    client.embeddings.create(model=embed_model, input="x", dimensions=7)
    raise AssertionError("wrong dimensions accepted")
except openai.BadRequestError as e:
    assert e.body["param"] == "dimensions", e.body

print("openai client checks passed")

# --- chat (when a chat model is given) -------------------------------------------
if len(sys.argv) > 4:
    chat_model = sys.argv[4]
    reference = json.load(open(sys.argv[5]))["prompts"][0]
    messages = reference["messages"]
    expected = reference["greedy"]["text"]
    n_prompt = reference["n_prompt_tokens"]

    whole = client.chat.completions.create(model=chat_model, messages=messages, temperature=0, max_tokens=32)
    assert whole.choices[0].message.content == expected, whole.choices[0].message.content
    assert whole.choices[0].finish_reason == "stop", whole.choices[0].finish_reason
    assert whole.usage.prompt_tokens == n_prompt, whole.usage
    assert whole.usage.completion_tokens == len(expected_ids := [t for t in reference["greedy"]["generated_ids"] if t != 2]), whole.usage

    pieces, finish, usage, chunks = [], None, None, 0
    stream = client.chat.completions.create(
        model=chat_model, messages=messages, temperature=0, max_tokens=32, stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        chunks += 1
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
            if choice.finish_reason:
                finish = choice.finish_reason
    assert "".join(pieces) == expected, pieces
    assert len(pieces) >= 5, pieces  # token by token, not one blob
    assert finish == "stop" and usage.completion_tokens == len(expected_ids), (finish, usage)
    # The same messages again: all of the prompt but its last token is reused
    # from the prefix cache (one replica), as OpenAI reports cached prompt tokens.
    assert whole.usage.prompt_tokens_details.cached_tokens == 0, whole.usage
    assert usage.prompt_tokens_details.cached_tokens == n_prompt - 1, usage

    short = client.chat.completions.create(model=chat_model, messages=messages, temperature=0, max_tokens=3)
    assert short.choices[0].finish_reason == "length" and short.usage.completion_tokens == 3, short

    seeded = [
        client.chat.completions.create(model=chat_model, messages=messages, temperature=0.8, top_p=0.9,
                                       seed=42, max_tokens=12).choices[0].message.content
        for _ in range(2)
    ]
    assert seeded[0] == seeded[1], seeded

    stop = client.chat.completions.create(model=chat_model, messages=messages, temperature=0, max_tokens=32,
                                          stop=[" Paris"])
    assert stop.choices[0].message.content == expected.split(" Paris")[0], stop.choices[0].message.content

    text = client.completions.create(model=chat_model, prompt="The capital of France is", temperature=0, max_tokens=4)
    assert text.choices[0].text.strip(), text
    assert text.usage.completion_tokens <= 4

    for bad, param in (({"temperature": 5}, "temperature"), ({"n": 2}, "n"), ({"max_tokens": 0}, "max_tokens")):
        try:
            client.chat.completions.create(model=chat_model, messages=messages, **bad)
            raise AssertionError(f"{bad} accepted")
        except openai.BadRequestError as e:
            assert e.body["param"] == param, e.body
    try:
        client.embeddings.create(model=chat_model, input="x")
        raise AssertionError("embeddings from a chat model accepted")
    except openai.BadRequestError as e:
        assert e.body["param"] == "model", e.body
    print("openai chat checks passed")
