"""Drives seams' chat endpoint with the official OpenAI Python client, unmodified.

    python openai_client.py BASE_URL     e.g. http://127.0.0.1:3000/v1

The example corpus (examples/docs) must be ingested. Prints one JSON summary line.
"""

import json
import sys

import openai

base_url = sys.argv[1]
client = openai.OpenAI(base_url=base_url, api_key="unused-locally", max_retries=0)

models = [model.id for model in client.models.list()]
assert models == ["seams"], models

question = "Can digital products be refunded?"
completion = client.chat.completions.create(
    model="seams",
    messages=[{"role": "system", "content": "Answer in one sentence."}, {"role": "user", "content": question}],
    extra_body={"filters": {"category": "policies"}},
)
content = completion.choices[0].message.content
assert completion.choices[0].finish_reason == "stop", completion
assert "Sources:" in content and "[1]" in content, content
citations = completion.model_extra["citations"]
assert citations and citations[0]["index"] == 1, citations
assert any("refunds" in (c.get("document_id") or "") for c in citations), citations

follow_up = client.chat.completions.create(
    model="seams",
    messages=[
        {"role": "user", "content": question},
        {"role": "assistant", "content": content},
        {"role": "user", "content": "How long do card refunds take to appear?"},
    ],
)
assert follow_up.choices[0].message.content, follow_up

pieces, finish, streamed_citations = [], None, None
with client.chat.completions.create(
    model="seams", messages=[{"role": "user", "content": question}], stream=True,
    extra_body={"filters": {"category": "policies"}},
) as stream:
    for chunk in stream:
        choice = chunk.choices[0]
        pieces.append(choice.delta.content or "")
        finish = choice.finish_reason or finish
        streamed_citations = (chunk.model_extra or {}).get("citations", streamed_citations)
assert finish == "stop" and len(pieces) > 2, (finish, pieces)
assert "Sources:" in "".join(pieces), pieces
assert streamed_citations, "the last chunk carries the citations"

try:
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": question}])
    raise AssertionError("an unknown model is refused")
except openai.NotFoundError as error:
    assert error.code == "model_not_found", error.body
try:
    client.chat.completions.create(model="seams", messages=[])
    raise AssertionError("no messages is refused")
except openai.BadRequestError as error:
    assert error.body["param"] == "messages", error.body
try:
    client.chat.completions.create(
        model="seams", messages=[{"role": "user", "content": question}],
        tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])
    raise AssertionError("tools are refused")
except openai.BadRequestError as error:
    assert error.code == "unsupported_parameter" and error.body["param"] == "tools", error.body

print(json.dumps({"models": models, "citations": len(citations), "stream_chunks": len(pieces)}))
