"""Charla driven by pydle, a third-party Python IRC client library.

Run by `tests/interop.rs` against a test server: `python3 pydle_check.py <host> <port>`.
Exercises MONITOR (pydle's own monitor API and callbacks), labeled-response (one reply with
the label, several in a labeled-response batch, ACK for none) and draft/multiline (a batch sent
and received whole), every server line going through pydle's parser. pydle 1.2 reads each line of a long
`CAP LS 302` on its own (it takes the `*` of a continuation for a capability and ends the
negotiation early), so its REQ is answered after registration: the check waits for the ACK.
Prints "OK" and exits 0,
or says what went wrong and exits 1. Bounded: every wait has a timeout.
"""

import asyncio
import os
import sys

import pydle

WAIT = 5.0


class Client(pydle.Client):
    """A pydle client that records what it gets, and asks for three more capabilities."""

    def __init__(self, nickname):
        super().__init__(nickname, realname="pydle " + nickname)
        self.lines = asyncio.Queue()
        self.monitor_events = asyncio.Queue()
        self.ready = asyncio.Event()

    async def on_capability_labeled_response_available(self, value):
        return True

    async def on_capability_batch_available(self, value):
        return True

    async def on_capability_draft_multiline_available(self, value):
        return True

    async def on_connect(self):
        await super().on_connect()
        self.ready.set()

    async def on_raw(self, message):
        if not message._valid:
            raise AssertionError(f"pydle found the line invalid: {message._raw!r}")
        await self.lines.put(message)
        await super().on_raw(message)

    async def on_user_online(self, nickname):
        await self.monitor_events.put(("online", nickname))

    async def on_user_offline(self, nickname):
        await self.monitor_events.put(("offline", nickname))

    async def next_line(self, what, check):
        """The next line for which `check` holds (others are skipped)."""
        while True:
            try:
                message = await asyncio.wait_for(self.lines.get(), WAIT)
            except asyncio.TimeoutError:
                raise AssertionError(f"{self.nickname}: never got {what}") from None
            if check(message):
                return message


def command(message):
    return str(message.command).upper() if not isinstance(message.command, int) else str(
        message.command
    ).zfill(3)


async def monitor_event(client, want):
    try:
        got = await asyncio.wait_for(client.monitor_events.get(), WAIT)
    except asyncio.TimeoutError:
        raise AssertionError(f"no MONITOR event, wanted {want}") from None
    if got != want:
        raise AssertionError(f"MONITOR said {got}, wanted {want}")


async def connect(nickname, host, port):
    client = Client(nickname)
    await client.connect(host, port, tls=False, reconnect=False)
    await asyncio.wait_for(client.ready.wait(), WAIT)
    return client


async def main(host, port):
    ana = await connect("ana", host, port)
    # pydle reads each line of a long CAP LS on its own, so its REQ may be answered after
    # registration: wait for the ACK.
    wanted = ("labeled-response", "batch", "draft/multiline", "message-tags")
    for _ in range(int(WAIT * 20)):
        if all(ana._capabilities.get(cap) for cap in wanted):
            break
        await asyncio.sleep(0.05)
    for cap in wanted:
        if not ana._capabilities.get(cap):
            raise AssertionError(f"{cap} was not negotiated: {ana._capabilities}")

    # MONITOR through pydle's API: offline first, online when she comes, offline when she goes.
    if not await ana.monitor("beto"):
        raise AssertionError("pydle saw no MONITOR in ISUPPORT")
    await monitor_event(ana, ("offline", "beto"))
    beto = await connect("beto", host, port)
    await monitor_event(ana, ("online", "beto"))
    for _ in range(int(WAIT * 20)):
        if beto._capabilities.get("draft/multiline"):
            break
        await asyncio.sleep(0.05)

    # labeled-response: one reply carries the label...
    await ana.rawmsg("PING", "uno", tags={"label": "l1"})
    pong = await ana.next_line("the labeled PONG", lambda m: command(m) == "PONG")
    if pong.tags.get("label") != "l1" or pong.params[-1] != "uno":
        raise AssertionError(f"PONG without its label: {pong._raw!r}")
    # ...several come in a labeled-response batch...
    await ana.rawmsg("WHOIS", "beto", tags={"label": "l2"})
    start = await ana.next_line("the labeled batch", lambda m: command(m) == "BATCH")
    if start.tags.get("label") != "l2" or start.params[1:] != ["labeled-response"]:
        raise AssertionError(f"not a labeled-response batch: {start._raw!r}")
    reference = start.params[0][1:]
    whois = []
    while True:
        m = await ana.next_line("the batch's end", lambda m: True)
        if command(m) == "BATCH":
            if m.params[0] != "-" + reference:
                raise AssertionError(f"wrong batch end: {m._raw!r}")
            break
        if m.tags.get("batch") != reference:
            raise AssertionError(f"line outside the batch: {m._raw!r}")
        whois.append(command(m))
    if "311" not in whois or "318" not in whois:
        raise AssertionError(f"WHOIS replies missing: {whois}")
    # ...and a command with no reply is answered ACK.
    await ana.rawmsg("AWAY", tags={"label": "l3"})
    await ana.next_line(
        "ACK or the labeled 305",
        lambda m: m.tags.get("label") == "l3" and command(m) in ("ACK", "305"),
    )

    # draft/multiline: ana sends a batch, beto (with the capability) gets it whole.
    await ana.join("#py")
    await beto.join("#py")
    await beto.next_line("ana's JOIN seen", lambda m: command(m) == "366")
    await ana.rawmsg("BATCH", "+m1", "draft/multiline", "#py")
    await ana.rawmsg("PRIVMSG", "#py", "primera línea", tags={"batch": "m1"})
    await ana.rawmsg("PRIVMSG", "#py", "la segunda, ", tags={"batch": "m1"})
    await ana.rawmsg(
        "PRIVMSG", "#py", "que sigue", tags={"batch": "m1", "draft/multiline-concat": True}
    )
    await ana.rawmsg("BATCH", "-m1")
    start = await beto.next_line(
        "the multiline batch", lambda m: command(m) == "BATCH" and m.params[0].startswith("+")
    )
    if start.params[1:] != ["draft/multiline", "#py"] or "msgid" not in start.tags:
        raise AssertionError(f"not a multiline batch: {start._raw!r}")
    reference = start.params[0][1:]
    text = ""
    while True:
        m = await beto.next_line("the multiline lines", lambda m: True)
        if command(m) == "BATCH":
            break
        if command(m) != "PRIVMSG" or m.tags.get("batch") != reference:
            raise AssertionError(f"unexpected line in the batch: {m._raw!r}")
        if text and "draft/multiline-concat" not in m.tags:
            text += "\n"
        text += m.params[-1]
    if text != "primera línea\nla segunda, que sigue":
        raise AssertionError(f"multiline text came out as {text!r}")

    await beto.quit("adiós")
    await monitor_event(ana, ("offline", "beto"))
    await ana.quit("fin")


async def checked(host, port):
    """Runs the check; says how it went and leaves at once (pydle's own tasks may not stop
    when asked, and waiting for them would hide the answer)."""
    try:
        await asyncio.wait_for(main(host, port), 30)
    except Exception as error:  # noqa: BLE001 - any failure is the check's failure
        print(f"FAILED: {type(error).__name__}: {error}", flush=True)
        os._exit(1)
    print("OK", flush=True)
    os._exit(0)


if __name__ == "__main__":
    asyncio.run(checked(sys.argv[1], int(sys.argv[2])))
