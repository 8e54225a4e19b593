"""What the grader's processes say to each other (autograder/protocol.py) and the limits they carry
(autograder/limits.py): every message survives its JSON form, frames survive any split, and what does
not fit the protocol is refused as a WireError, never half-read."""
from __future__ import annotations

import io
import json
import socket

import pytest

from autograder import protocol
from autograder.limits import LimitError, Limits
from autograder.protocol import (BridgeStats, Cell, CellError, CellKind, CellResult, Confinement, Done, Ended,
                                 ErrorReply, Fatal, KernelLost, NotebookReply, NotebookRequest, RunFindings, Side,
                                 Started, WireError)

REQUEST = NotebookRequest(
    (Cell("import numpy as np", Side.BOTH, CellKind.COURSE, "setup"), Cell("x = 1", Side.KERNEL, CellKind.STUDENT)),
    Limits(cell_timeout=30), Confinement("/tmp/job1", {"HOME": "/tmp/job1"}, ("/course",), 2, 1001, 1001,
                                         Limits(cell_timeout=30).rlimits(own_user=True)), record=False)
RESULT = CellResult(({"output_type": "stream", "name": "stdout", "text": "hi\n"},),
                    CellError("CheckError", "f is wrong.", ("CheckError: f is wrong.",), mistake="W is transposed"),
                    RunFindings("f", ("it ran aten::rnn_tanh",)))


def _through_json(message):
    return json.loads(json.dumps(message.to_json()))


def test_the_fork_servers_messages_survive_their_json_form():
    assert NotebookRequest.from_json(_through_json(REQUEST)) == REQUEST
    reply = NotebookReply((RESULT, CellResult()), BridgeStats(3, 1200, 0.01))
    assert NotebookReply.from_json(_through_json(reply)) == reply
    assert NotebookReply.from_json(_through_json(NotebookReply((RESULT,)))).bridge is None
    assert NotebookReply.from_json(_through_json(Fatal("KeyError: 'x'"))) == Fatal("KeyError: 'x'")
    for event in (Started(3), Done(3, RESULT, BridgeStats(1, 2, 0.5)), KernelLost(4), Ended(BridgeStats())):
        assert protocol.event_from_json(_through_json(event)) == event


def test_a_cell_error_carries_a_checks_finding_only_when_there_is_one():
    assert set(CellError("ValueError", "x").to_json()) == {"ename", "evalue", "traceback"}
    assert CellError.fault("TimeoutError", "too long").traceback == ("TimeoutError: too long",)
    assert CellError.from_json(RESULT.error.to_json()) == RESULT.error


@pytest.mark.parametrize("op", [
    protocol.RunCell("x = 1"), protocol.Call(3, {"L": []}, {"D": []}, True, None, False),
    protocol.Call(3, {"L": [1]}, {"D": []}, False, "meta", True), protocol.Backward(2, {"L": [None]}),
    protocol.Release(), protocol.Watch(["torch.nn.MultiheadAttention"]), protocol.Record(open="ab12"),
    protocol.Record(close="cd34"), protocol.GetAttr(3, "W_xh", True), protocol.SetAttr(3, "b", 1.5, rec=False),
    protocol.SetAttr(3, "W", {"tn": None}, inplace=True), protocol.GetItem(3, 0, False), protocol.Len(3, False),
    protocol.Iter(3, True), protocol.Repr(3, False),
])
def test_each_bridge_operation_survives_its_json_form(op):
    assert protocol.operation_from_json(_through_json(op)) == op


def test_a_field_left_at_its_default_is_left_out_of_the_message():
    assert protocol.Record(open="ab").to_json() == {"op": "record", "open": "ab"}
    assert protocol.SetAttr(3, "W", 1, inplace=True).to_json() == {"op": "setattr", "h": 3, "name": "W", "value": 1,
                                                                  "inplace": True}
    assert protocol.Call(1, [], [], True, None, False).to_json()["dev"] is None  # no default: always there


@pytest.mark.parametrize("message", [
    {"op": "call", "h": "3", "args": [], "kwargs": [], "grad": True, "dev": None, "rec": False},  # a handle that is text
    {"op": "call", "h": 3, "args": [], "kwargs": []},                                             # fields missing
    {"op": "getattr", "h": 3, "name": 7, "rec": False},
    {"op": "len", "h": True, "rec": False},                                                      # a bool is no handle
    {"op": "eval", "source": "1"},                                                               # no such operation
    ["op", "call"],
])
def test_a_malformed_operation_is_refused(message):
    with pytest.raises(WireError):
        protocol.operation_from_json(message)


def test_the_judge_answers_only_callbacks_and_the_kernel_only_the_judges_operations():
    callback = protocol.CallBack(0, {"L": []}, {"D": []})
    with pytest.raises(WireError):
        protocol.operation_from_json(_through_json(callback))  # the kernel's table has no callback
    assert protocol.operation_from_json(_through_json(callback), {"callback": protocol.CallBack}) == callback


@pytest.mark.parametrize("reply", [
    {"cells": [{"outputs": "x", "error": None}], "bridge": None},
    {"cells": [{"outputs": [], "error": {"ename": 1, "evalue": ""}}], "bridge": None},
    {"cells": [{"outputs": [], "error": None, "run": {"function": "f", "refused": "x"}}], "bridge": None},
    {"cells": [], "bridge": {"calls": 1.5, "bytes": 0, "seconds": 0}},
    {"fatal": 3},
    "reply",
])
def test_a_malformed_reply_is_refused(reply):
    with pytest.raises(WireError):
        NotebookReply.from_json(reply)


def test_an_error_reply_names_the_exception_and_its_classes():
    class StudentError(ValueError):
        pass

    reply = ErrorReply.of(StudentError("bad"))
    assert reply.type == "StudentError" and reply.classes[1:3] == ("ValueError", "Exception") and reply.msg == "bad"
    assert ErrorReply.from_json(reply.to_json()["error"]) == reply

    class Unprintable(Exception):
        def __str__(self):
            raise RuntimeError

    assert ErrorReply.of(Unprintable()).msg == "(unprintable)"


def test_frames_survive_any_split_and_a_socket_counts_their_bytes():
    messages = [{"t": "start", "i": 0}, {"é": "x" * 70_000}, [1, 2, 3]]
    data = b"".join(protocol.frame(m) for m in messages)
    for size in (1, 3, 4096):
        unframer, got = protocol.Unframer(), []
        for k in range(0, len(data), size):
            got += unframer.feed(data[k:k + size])
        assert got == messages and unframer.buffer == b""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        sent = protocol.send(ours, messages[1])
        assert protocol.recv(theirs) == (messages[1], sent)
        ours.close()
        with pytest.raises(EOFError):
            protocol.recv(theirs)
    pipe = io.BytesIO()
    protocol.write(pipe, protocol.READY)
    pipe.seek(0)
    assert protocol.read(pipe) == protocol.READY and protocol.read(pipe) is None


def test_a_frame_over_the_limit_or_not_json_is_refused(monkeypatch):
    monkeypatch.setattr(protocol, "MAX_FRAME", 100)
    with pytest.raises(WireError):
        protocol.frame({"x": "y" * 200})
    with pytest.raises(WireError):
        protocol.Unframer().feed((101).to_bytes(4, "big"))
    with pytest.raises(WireError):
        protocol.Unframer().feed((3).to_bytes(4, "big") + b"{no")


def test_limits_have_one_default_each_and_refuse_what_cannot_mean_anything():
    assert Limits().cell_timeout == 120 and Limits().mem_bytes == 2 << 30
    assert Limits.from_options() == Limits()
    assert Limits.from_options(cell_timeout=5, memory_mb=512) == Limits(cell_timeout=5.0, mem_bytes=512 << 20)
    for bad in (dict(cell_timeout=0), dict(cell_timeout=-1), dict(cell_timeout=float("nan")),
                dict(cell_timeout=float("inf")), dict(memory_mb=0)):
        with pytest.raises(LimitError):
            Limits.from_options(**bad)
    for bad in (dict(max_pids=0), dict(output_limit=True), dict(total_timeout="60")):
        with pytest.raises(LimitError):
            Limits(**bad)
    with pytest.raises(LimitError):
        Limits.from_json({"cell_timeout": 1, "unknown": 2})
    assert Limits.from_json(Limits(cell_timeout=7).to_json()) == Limits(cell_timeout=7)


def test_the_kernels_resource_limits_follow_the_limits():
    rl = Limits(cell_timeout=100, total_timeout=900, max_pids=64).rlimits(own_user=True)
    assert rl["RLIMIT_CPU"] == 1000 and rl["RLIMIT_NPROC"] == 64 and rl["RLIMIT_CORE"] == 0
    assert "RLIMIT_NPROC" not in Limits().rlimits(own_user=False)  # it would count the grader's own processes
