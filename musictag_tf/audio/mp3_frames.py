"""MPEG audio Layer III frame headers: is a constant-bitrate mp3 complete?

libmpg123 (inside libsndfile) decodes a cut-off mp3 silently to fewer samples. An mp3 with a
Xing/Info/VBRI header states its length, and ``io`` compares it with what was decoded. A
constant-bitrate (CBR) mp3 *without* such a header (the MTAT clips) states nothing, but its
frames do: every frame has a header (sync word, bitrate, sample rate, padding bit) from which
its exact length in bytes follows, so the **last frame** must end exactly where the audio
data ends (before an ID3v1 / APEv2 tag). A file cut at a random byte ends inside a frame
(``last_frame_cut``).

The other clue, the duration (audio bytes x 8 / bitrate, ``expected_seconds``), needs no
code here: for a CBR mp3 without a length header libsndfile already reports that estimate as
``SoundFile.frames``, so ``io``'s "decoded N of the M samples the header declares" check
catches frames lost mid-file (measured: the MTAT clip, 29.124 s both ways; a test wipes a
quarter of a file's frame headers). It cannot catch a cut, because the estimate shrinks
with the file.

A cut exactly on a frame boundary (1 chance in ~400 for a random cut of a 128 kbps file)
leaves a valid shorter file; nothing in the file can tell it from a shorter recording.

Only the head (ID3v2 tag + a few frames) and the tail (a few frames + tags) are read, from a
seekable binary file object, so this costs the same for a 3-hour file as for a 30-second one.

Header layout (ISO 11172-3 / 13818-3): 11 sync bits, version (2), layer (2), protection (1),
bitrate index (4), sample rate index (2), padding (1), private (1), channel mode (2), ...
Layer III frame length = 144 x bitrate / rate + padding bytes (MPEG-1; 72 x for MPEG-2/2.5).
"""

from __future__ import annotations

import dataclasses
from typing import BinaryIO, Optional

# kbit/s by bitrate index, Layer III; index 0 is "free format", 15 is invalid.
_BITRATES_MPEG1 = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_BITRATES_MPEG2 = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
# Hz by version bits (3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5) and sample rate index.
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
_HEAD_BYTES = 64 * 1024  # searched for the first frame after the ID3v2 tag
_FRAMES_CHECKED_FOR_CBR = 32  # consecutive frames from the first that must share its bitrate
_MAX_FRAME_BYTES = 2 * 1441  # largest Layer III frame (320 kbit/s at 32 kHz) x 2


@dataclasses.dataclass(frozen=True)
class FrameHeader:
    """One Layer III frame header."""

    version: int  # version bits: 3 MPEG-1, 2 MPEG-2, 0 MPEG-2.5
    bitrate_kbps: int
    sample_rate: int  # Hz
    padding: int  # 0 or 1 byte
    channels: int  # 1 (mono) or 2

    @property
    def samples_per_frame(self) -> int:
        return 1152 if self.version == 3 else 576

    @property
    def length(self) -> int:
        """Frame length in bytes, header included."""
        return self.samples_per_frame // 8 * self.bitrate_kbps * 1000 // self.sample_rate + self.padding

    def same_stream(self, other: "FrameHeader") -> bool:
        return (self.version, self.sample_rate, self.channels) == (other.version, other.sample_rate, other.channels)


def parse_header(data: bytes, pos: int) -> Optional[FrameHeader]:
    """The Layer III frame header at ``data[pos:pos + 4]``, or None if there is none."""
    if pos < 0 or pos + 4 > len(data):
        return None
    b0, b1, b2, b3 = data[pos], data[pos + 1], data[pos + 2], data[pos + 3]
    if b0 != 0xFF or (b1 & 0xE0) != 0xE0:
        return None
    version, layer = (b1 >> 3) & 3, (b1 >> 1) & 3
    bitrate_index, rate_index = b2 >> 4, (b2 >> 2) & 3
    if version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    table = _BITRATES_MPEG1 if version == 3 else _BITRATES_MPEG2
    return FrameHeader(version, table[bitrate_index], _RATES[version][rate_index], (b2 >> 1) & 1,
                       1 if (b3 >> 6) == 3 else 2)


@dataclasses.dataclass(frozen=True)
class Mp3Layout:
    """Where the audio frames of an mp3 are and whether its last frame is whole.

    audio_start / audio_end: byte offsets of the first frame and of the end of the audio data
    (before trailing ID3v1 / APEv2 tags). ``has_length_header``: the first frame is a
    Xing/Info/VBRI frame stating the length. ``constant_bitrate``: the first frames share one
    bitrate. ``last_frame_cut``: the frame that reaches ``audio_end`` is incomplete (bytes
    missing), judged only for CBR files without a length header.
    """

    audio_start: int
    audio_end: int
    first: FrameHeader
    has_length_header: bool
    constant_bitrate: bool
    last_frame_cut: bool

    def expected_seconds(self) -> float:
        """Duration the audio bytes and the (constant) bitrate imply, s."""
        return (self.audio_end - self.audio_start) * 8 / (self.first.bitrate_kbps * 1000)


def _id3v2_end(f: BinaryIO) -> int:
    """Offset after the ID3v2 tag(s) at the start of the file (0 without one)."""
    offset = 0
    while True:
        f.seek(offset)
        head = f.read(10)
        if len(head) < 10 or head[:3] != b"ID3":
            return offset
        size = (head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | (head[9] & 0x7F)
        offset += 10 + size + (10 if head[5] & 0x10 else 0)


def _tags_at_end(f: BinaryIO, size: int) -> int:
    """Bytes of ID3v1 ("TAG", 128 bytes) and APEv2 ("APETAGEX") tags at the end of the file."""
    end = size
    if end >= 128:
        f.seek(end - 128)
        if f.read(3) == b"TAG":
            end -= 128
    if end >= 32:
        f.seek(end - 32)
        footer = f.read(32)
        if footer[:8] == b"APETAGEX":
            tag_size = int.from_bytes(footer[12:16], "little")
            has_header = bool(int.from_bytes(footer[20:24], "little") & (1 << 31))
            end -= tag_size + (32 if has_header else 0)
    return size - max(end, 0)


def _first_frame(data: bytes) -> Optional[int]:
    """Offset of the first header in ``data`` that is followed by a matching header."""
    pos = data.find(b"\xff")
    while 0 <= pos < len(data) - 4:
        header = parse_header(data, pos)
        if header is not None:
            following = parse_header(data, pos + header.length)
            if following is not None and following.same_stream(header):
                return pos
        pos = data.find(b"\xff", pos + 1)
    return None


def read_layout(f: BinaryIO, size: int) -> Optional[Mp3Layout]:
    """The ``Mp3Layout`` of an open, seekable mp3 of ``size`` bytes; None if no Layer III frames found."""
    start = _id3v2_end(f)
    f.seek(start)
    head = f.read(_HEAD_BYTES)
    first_at = _first_frame(head)
    if first_at is None:
        return None
    first = parse_header(head, first_at)
    frame = head[first_at:first_at + first.length]
    has_length_header = any(marker in frame for marker in (b"Xing", b"Info", b"VBRI"))
    # CBR: the frames after the first (which may be a Xing frame of another bitrate) share one
    # bitrate; ``first`` becomes the first audio frame's header.
    pos = first_at + first.length
    if has_length_header and parse_header(head, pos) is not None:
        first = parse_header(head, pos)
    constant = True
    for _ in range(_FRAMES_CHECKED_FOR_CBR):
        header = parse_header(head, pos)
        if header is None:
            break
        if header.bitrate_kbps != first.bitrate_kbps or not header.same_stream(first):
            constant = False
            break
        pos += header.length
    audio_start = start + first_at
    audio_end = size - _tags_at_end(f, size)
    last_frame_cut = False
    if constant and not has_length_header and audio_end > audio_start:
        last_frame_cut = _last_frame_cut(f, audio_start, audio_end, first)
    return Mp3Layout(audio_start, audio_end, first, has_length_header, constant, last_frame_cut)


def _last_frame_cut(f: BinaryIO, audio_start: int, audio_end: int, first: FrameHeader) -> bool:
    """True when the chain of frames in the tail runs past ``audio_end``.

    Headers in the last few frames' bytes are chained (each header's length leads to the next);
    the last header of the longest chain is the last frame. False syncs inside audio data do not
    chain, so they are ignored.
    """
    tail_start = max(audio_start, audio_end - 3 * _MAX_FRAME_BYTES)
    f.seek(tail_start)
    tail = f.read(audio_end - tail_start)
    best_chain, best_last = 0, None
    chained = set()  # positions inside a chain already followed: theirs is a shorter suffix of it
    pos = tail.find(b"\xff")  # a header starts with 0xFF: only those positions can start a chain
    while 0 <= pos < len(tail) - 3:
        header = parse_header(tail, pos) if pos not in chained else None
        if header is not None and header.same_stream(first):
            chain, at, last = 1, pos, header
            while True:
                nxt = parse_header(tail, at + last.length)
                if nxt is None or not nxt.same_stream(first):
                    break
                chain, at, last = chain + 1, at + last.length, nxt
                chained.add(at)
            if chain > best_chain:
                best_chain, best_last = chain, (at, last)
        pos = tail.find(b"\xff", pos + 1)
    if best_last is None:
        return False  # no frame found in the tail: nothing to judge by
    at, last = best_last
    return at + last.length > len(tail)


def cbr_layout_without_length_header(f: BinaryIO, size: int) -> Optional[Mp3Layout]:
    """``read_layout`` when the file is CBR without a Xing/Info/VBRI header, else None.

    Those are the files whose truncation libmpg123 cannot see; the others are judged by
    their length header (``io``) or not at all (VBR without a header).
    """
    layout = read_layout(f, size)
    if layout is None or layout.has_length_header or not layout.constant_bitrate:
        return None
    return layout


def check_last_frame(layout: Mp3Layout, source_name: str, decoded_seconds: Optional[float] = None) -> None:
    """Raise ``AudioDecodeError`` when the file ends inside a frame (cut off)."""
    from musictag_tf.errors import AudioDecodeError
    if layout.last_frame_cut:
        decodes = f"decodes to {decoded_seconds:.2f} s, " if decoded_seconds is not None else ""
        raise AudioDecodeError(
            source_name, f"truncated: the mp3 ends inside a frame ({decodes}a constant-bitrate mp3 without "
                         f"a length header whose last {layout.first.length}-byte frame is cut off)")
