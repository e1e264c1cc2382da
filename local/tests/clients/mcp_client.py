"""Drives seams' MCP server with the official MCP Python SDK, unmodified.

    python mcp_client.py http URL                  streamable HTTP (seams up --mcp-write-tools)
    python mcp_client.py stdio SEAMS DATA_DIR      stdio (seams mcp --write-tools)
    python mcp_client.py stdio-api SEAMS API_URL   stdio over a running API (seams mcp --api URL --write-tools)

The example corpus (examples/docs) must be ingested. Every tool is called, and bad calls;
an assertion that fails exits non-zero with its message. Prints one JSON summary line.
"""

import asyncio
import json
import sys
import uuid

from mcp import Client, StdioServerParameters

TOOLS = {"search", "answer", "get_document", "list_documents", "ingest_document"}


def structured(result):
    assert not result.is_error, f"the tool failed: {result.content}"
    assert result.structured_content is not None, "no structured content"
    return result.structured_content


def text_of(result):
    return "\n".join(block.text for block in result.content if block.type == "text")


async def drive(client):
    tools = (await client.list_tools()).tools
    assert {tool.name for tool in tools} == TOOLS, [tool.name for tool in tools]
    assert all(tool.output_schema for tool in tools), "every tool publishes its output schema"
    read_only = {tool.name for tool in tools if tool.annotations and tool.annotations.read_only_hint}
    assert read_only == TOOLS - {"ingest_document"}, read_only

    found = await client.call_tool("search", {"query": "Can digital products be refunded?", "top_k": 3})
    passages = structured(found)["passages"]
    assert passages and passages[0]["document_id"].startswith("policies"), passages
    assert "[1]" in text_of(found), text_of(found)

    filtered = await client.call_tool(
        "search",
        {"query": "refund", "filters": {"equals": {"key": "category", "value": "engineering"}}, "search_mode": "keyword"},
    )
    assert all(p["metadata"]["category"] == "engineering" for p in structured(filtered)["passages"])

    answered = await client.call_tool("answer", {"question": "Can digital products be refunded?",
                                                 "filters": {"category": "policies"}})
    answer = structured(answered)
    assert answer["citations"], answer
    assert any("refunds" in (c.get("document_id") or "") for c in answer["citations"]), answer["citations"]
    assert "Sources:" in text_of(answered), text_of(answered)

    listed = structured(await client.call_tool("list_documents", {"limit": 5}))
    assert len(listed["documents"]) == 5 and listed["next_after"], listed
    page_two = structured(await client.call_tool("list_documents", {"after": listed["next_after"]}))
    ids = [d["document_id"] for d in listed["documents"] + page_two["documents"]]
    assert len(ids) == len(set(ids)) and ids == sorted(ids), ids
    refunds = next(d for d in page_two["documents"] + listed["documents"] if d["document_id"] == "policies-refunds.md")
    assert refunds["attributes"]["category"] == "policies", refunds

    document = structured(await client.call_tool("get_document", {"document_id": refunds["document_id"]}))
    assert document["versions"][0]["version"] == 1 and not document["deleted"], document

    word = "zq" + uuid.uuid4().hex[:10]
    ingested = structured(await client.call_tool(
        "ingest_document", {"content": f"The {word} lantern runs for 40 hours.", "document_id": f"lantern-{word}",
                            "attributes": {"category": "products"}}))
    assert ingested["status"] == "queued", ingested
    for _ in range(100):
        hits = structured(await client.call_tool("search", {"query": word, "search_mode": "keyword"}))["passages"]
        if hits:
            break
        await asyncio.sleep(0.1)
    assert hits and hits[0]["document_id"] == f"lantern-{word}", "the ingested document became searchable"

    too_many = await client.call_tool("search", {"query": "refunds", "top_k": 500})
    assert too_many.is_error and "top_k" in text_of(too_many), text_of(too_many)
    assert too_many.structured_content["error"] == "Seams.InvalidInput", too_many.structured_content
    missing = await client.call_tool("get_document", {"document_id": "no-such-document"})
    assert missing.is_error and "Seams.NotFound" in text_of(missing), text_of(missing)
    try:
        wrong_type = await client.call_tool("search", {"query": 5})
        assert wrong_type.is_error, "a query that is not text is refused"
    except Exception as refused:  # a JSON-RPC error is the other correct refusal
        assert "query" in str(refused) or "invalid" in str(refused).lower(), refused
    # The server is still there after the bad calls.
    assert structured(await client.call_tool("list_documents", {"limit": 1}))["documents"]
    return {"tools": sorted(TOOLS), "passages": len(passages), "citations": len(answer["citations"])}


async def main(argv):
    if argv[1] == "http":
        server = argv[2]
    elif argv[1] == "stdio":
        server = StdioServerParameters(command=argv[2], args=["--data-dir", argv[3], "mcp", "--write-tools"])
    elif argv[1] == "stdio-api":
        server = StdioServerParameters(command=argv[2], args=["mcp", "--api", argv[3], "--write-tools"],
                                       env={"SEAMS_API_TOKEN": "token-from-the-environment"})
    else:
        raise SystemExit(__doc__)
    async with Client(server, read_timeout_seconds=60) as client:
        summary = await drive(client)
    print(json.dumps({"transport": argv[1], **summary}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv))
