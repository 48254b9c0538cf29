"""Calls a Cloud Agent server as a gRPC client built on gRPC's C core (Debian's python3-grpcio).

Usage: c-core-client.py STUBS_DIR ADDRESS CASES_JSON
STUBS_DIR holds the modules protoc and grpc_python_plugin made from proto/. CASES_JSON is a
list of calls: {"name", "call": "get_task" | "watch_task" | "submit" | "reflection",
"key": str | null, "bytes": int (the echo text's size, for submit)}. Prints one JSON line per
call: its name, the status code's name, the details, and the seconds it took.
"""

import json
import sys
import time

sys.path.insert(0, sys.argv[1])

import grpc  # noqa: E402
from noizylab.agent.v1 import task_service_pb2, task_service_pb2_grpc  # noqa: E402


def metadata(case):
    return [("authorization", "Bearer " + case["key"])] if case.get("key") else []


def open_stream(first):
    """A request stream that sends one message and then stays open until the call ends."""
    yield first
    time.sleep(30)


def call(channel, case):
    tasks = task_service_pb2_grpc.TaskServiceStub(channel)
    kind = case["call"]
    if kind == "get_task":
        tasks.GetTask(task_service_pb2.GetTaskRequest(task_id="no-such-task"), metadata=metadata(case), timeout=10)
    elif kind == "submit":
        spec = task_service_pb2.SubmitRequest()
        spec.spec.echo.text = "x" * case.get("bytes", 1)
        tasks.Submit(spec, metadata=metadata(case), timeout=10)
    elif kind == "watch_task":
        for _ in tasks.WatchTask(task_service_pb2.WatchTaskRequest(task_id="no-such-task"), metadata=metadata(case), timeout=10):
            pass
    elif kind == "reflection":
        # A bidirectional stream the client keeps open: the answer must come without its end.
        # (Its stubs would be a package named grpc, which the real one hides: raw bytes instead,
        # a ServerReflectionRequest with list_services, field 7, empty.)
        reflect = channel.stream_stream(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            request_serializer=bytes,
            response_deserializer=bytes,
        )
        for _ in reflect(open_stream(b"\x3a\x00"), metadata=metadata(case), timeout=10):
            pass
    else:
        raise ValueError("unknown call " + kind)


def main():
    address, cases = sys.argv[2], json.loads(sys.argv[3])
    with grpc.insecure_channel(address, options=[("grpc.max_send_message_length", 64 << 20)]) as channel:
        for case in cases:
            started = time.monotonic()
            try:
                call(channel, case)
                code, details = "OK", ""
            except grpc.RpcError as error:
                code, details = error.code().name, error.details()
            seconds = time.monotonic() - started
            print(json.dumps({"name": case["name"], "code": code, "details": details, "seconds": seconds}), flush=True)


main()
