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
