"""`x-crc32`, the custom extension of examples/custom_extension.rs, on the client
side of Python `websockets` (its `ClientExtensionFactory` / `Extension` API).

Wire format, both directions: a data message whose first frame has RSV2 set carries
`payload ++ crc32(payload)`: the big-endian IEEE CRC-32 of the whole message payload
(as `zlib.crc32`), appended to the end of the last fragment. Negotiated by offering
`x-crc32` with no parameters; the server answers `x-crc32`. A mismatch is closed with
1007 (invalid data).
"""

from __future__ import annotations

import dataclasses
import struct
import zlib
from collections.abc import Sequence
from typing import Any

from websockets.exceptions import NegotiationError, ProtocolError
from websockets.extensions.base import ClientExtensionFactory, Extension
from websockets.frames import CTRL_OPCODES, Frame, Opcode
from websockets.typing import ExtensionName, ExtensionParameter

NAME = ExtensionName("x-crc32")


class ChecksumMismatch(UnicodeDecodeError):
    """websockets closes with 1007 (invalid data) on a UnicodeDecodeError raised while
    parsing a frame, and with 1002 on a ProtocolError; a bad checksum is invalid data."""

    def __init__(self, expected: int, got: bytes) -> None:
        super().__init__("x-crc32", got, 0, len(got), f"checksum mismatch: expected {expected:08x}, got {got.hex()}")


class Crc32(Extension):
    name = NAME

    def __init__(self) -> None:
        # Decoding: inside a message that carries a checksum?
        self._in_message = False
        self._in_crc = 0
        self._in_tail = b""  # the last 4 bytes seen: maybe the checksum
        # Encoding.
        self._out_crc = 0
        #: Set to make the next message's checksum wrong (for tests).
        self.corrupt_next = False
        #: Per received message: (rsv2 on its first frame, frames, payload bytes).
        self.messages_in: list[list[Any]] = []
        #: Per sent message: (frames, payload bytes, checksum sent).
        self.messages_out: list[list[Any]] = []

    def __repr__(self) -> str:
        return "Crc32()"

    def encode(self, frame: Frame) -> Frame:
        if frame.opcode in CTRL_OPCODES:
            return frame
        first = frame.opcode is not Opcode.CONT
        if first:
            self._out_crc = 0
            self.messages_out.append([0, 0, None])
        data = bytes(frame.data)
        self._out_crc = zlib.crc32(data, self._out_crc)
        entry = self.messages_out[-1]
        entry[0] += 1
        entry[1] += len(data)
        if frame.fin:
            crc = self._out_crc
            if self.corrupt_next:
                crc ^= 0x00000001
                self.corrupt_next = False
            entry[2] = crc
            data += struct.pack("!I", crc)
        # The bit marks the message: set on its first frame only, like RSV1 in RFC 7692.
        return dataclasses.replace(frame, data=data, rsv2=first)

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        if frame.opcode in CTRL_OPCODES:
            return frame
        if frame.opcode is not Opcode.CONT:
            self.messages_in.append([frame.rsv2, 0, 0])
            if not frame.rsv2:
                self._in_message = False
                return frame
            self._in_message = True
            self._in_crc = 0
            self._in_tail = b""
        else:
            if frame.rsv2:
                raise ProtocolError("x-crc32: RSV2 set on a continuation frame")
            if not self._in_message:
                self.messages_in[-1][1] += 1
                self.messages_in[-1][2] += len(frame.data)
                return frame
        buf = self._in_tail + bytes(frame.data)
        if frame.fin:
            if len(buf) < 4:
                raise ProtocolError("x-crc32: message shorter than its checksum")
            data, tail = buf[:-4], buf[-4:]
            crc = zlib.crc32(data, self._in_crc)
            if struct.pack("!I", crc) != tail:
                raise ChecksumMismatch(crc, tail)
            self._in_message = False
        else:
            data, self._in_tail = buf[:-4], buf[-4:]
            self._in_crc = zlib.crc32(data, self._in_crc)
        self.messages_in[-1][1] += 1
        self.messages_in[-1][2] += len(data)
        return dataclasses.replace(frame, data=data, rsv2=False)


class ClientCrc32Factory(ClientExtensionFactory):
    name = NAME

    def __init__(self, params: Sequence[ExtensionParameter] = ()) -> None:
        self.params = list(params)
        self.response_params: list[ExtensionParameter] | None = None

    def get_request_params(self) -> Sequence[ExtensionParameter]:
        return self.params

    def process_response_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> Crc32:
        if any(e.name == NAME for e in accepted_extensions):
            raise NegotiationError("x-crc32 accepted twice")
        if params:
            raise NegotiationError(f"x-crc32 takes no parameters, got {params}")
        self.response_params = list(params)
        return Crc32()
