"""Helpers shared by the reference tests (tests/ref/*.py) and the Python
snippets of the CLI tests (tests/cli/*.sh).

A library, not a test: not executable, so prove (make check runs only
executable files) does not run it.  A script in tests/ref imports it by
name (Python puts the script's own directory first on sys.path); a CLI
snippet first adds $TEST_ROOT/tests/ref to sys.path.

What is here:
  - paths: ROOT (the repository), REF (tests/ref), BIN (the built tools),
    DRIVERS (the built tests/ref/*-driver programs),
    DATA (data/, the protocol files: LFW pairs.txt, lfw_landmark.txt,
    lfw_test_pair.txt, YTF splits.txt; a test reads nothing outside ROOT);
  - a TAP emitter: ok() for each check, done() for the plan and the exit
    status, bail_out() when a test cannot start;
  - scratch_dir() for a temporary directory and capture() to run a program;
  - hm record streams as hm-records(5) lays them out, written here from
    the man page (not from common/rec.c): record(), image_record(),
    embedding_record(), end_record() and write_stream() to write;
    iter_records() and read_records() to read.

Only the standard library is imported at load time (numpy only by the
Record methods that return arrays), so the CLI snippets stay quick.
"""
import contextlib
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from collections import namedtuple

REF = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(REF))
# make check-valgrind (mk/valgrind.mk) sets HM_VALGRIND=1: the tools and the
# drivers then run through memcheck wrappers of the same names.
_VALGRIND = os.path.join(ROOT, "tests", "tmp", "valgrind")
if os.environ.get("HM_VALGRIND") == "1":
    BIN = os.path.join(_VALGRIND, "bin")
    DRIVERS = os.path.join(_VALGRIND, "ref")
else:
    BIN = os.path.join(ROOT, "bin")
    DRIVERS = REF
DATA = os.path.join(ROOT, "data")


# --- TAP ----------------------------------------------------------------------

_n_test = 0
_n_fail = 0


def ok(cond, what, detail=None):
    """Prints one TAP line, "ok N - WHAT" or "not ok N - WHAT", and counts it.

    On failure DETAIL (anything; str() of it, at most 3000 characters) is
    printed below as "#   " comment lines.  Returns bool(cond), so a caller
    can stop a group of checks after a failure."""
    global _n_test, _n_fail
    _n_test += 1
    print("%s %d - %s" % ("ok" if cond else "not ok", _n_test, what))
    if not cond:
        _n_fail += 1
        text = "" if detail is None else str(detail)[:3000]
        for line in text.splitlines():
            print("#   " + line)
    sys.stdout.flush()
    return bool(cond)


def done():
    """Prints the plan "1..N" for the checks made so far; returns the exit
    status for sys.exit(): 1 if any check failed, else 0."""
    print("1..%d" % _n_test)
    sys.stdout.flush()
    return 1 if _n_fail else 0


def bail_out(why):
    """Prints "Bail out! WHY" (prove then stops and fails the file);
    returns 1, the exit status."""
    print("Bail out! " + why)
    sys.stdout.flush()
    return 1


# --- files and programs -------------------------------------------------------

@contextlib.contextmanager
def scratch_dir(prefix, parent=None):
    """A new temporary directory named PREFIX..., removed with everything in
    it when the with-block ends, however it ends.  It is made in PARENT, by
    default ROOT/tests/tmp when that exists (else the system's temporary
    directory).  Yields its path."""
    if parent is None:
        parent = os.path.join(ROOT, "tests", "tmp")
        if not os.path.isdir(parent):
            parent = None
    path = tempfile.mkdtemp(prefix=prefix, dir=parent)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def capture(argv, text=False, **kwargs):
    """Runs ARGV (a list) and waits for it; returns (exit status, stdout,
    stderr).  stdout is bytes, or str when TEXT; stderr is always str
    (undecodable bytes replaced).  Other keyword arguments go to
    subprocess.run (input=, stdin=, cwd=, env=)."""
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)
    out = p.stdout.decode(errors="replace") if text else p.stdout
    return p.returncode, out, p.stderr.decode(errors="replace")


# --- hm record streams, hm-records(5) -----------------------------------------

MAGIC = b"HMR\x1a"
HEADER = struct.Struct("<4sHHIIiI")   # magic, version, kind, key_len, body_len, label, crc
END, IMAGE, EMBEDDING = 0, 1, 2


class Record(namedtuple("Record", "kind key label body")):
    """One record of a stream: kind (0 end, 1 image, 2 embedding), key (str),
    label (int) and body (bytes).  Image records also answer w, h, c, enc
    and payload (the bytes after the 8-byte image head) and pixels() (a raw
    image as an HxWxC uint8 array); embedding records answer vec (the
    values, a float32 array)."""
    __slots__ = ()

    @property
    def w(self):
        """Image width."""
        return struct.unpack_from("<H", self.body, 0)[0]

    @property
    def h(self):
        """Image height."""
        return struct.unpack_from("<H", self.body, 2)[0]

    @property
    def c(self):
        """Image channels, 1 or 3."""
        return self.body[4]

    @property
    def enc(self):
        """Image encoding, 0 raw or 1 JPEG."""
        return self.body[5]

    @property
    def payload(self):
        """Image pixels or JPEG file: the body after its 8-byte head."""
        return self.body[8:]

    def pixels(self):
        """A raw image's pixels as an HxWxC uint8 numpy array (RGB order)."""
        import numpy as np
        if self.enc != 0:
            raise ValueError("record '%s' is not a raw image" % self.key)
        return np.frombuffer(self.payload, np.uint8).reshape(self.h, self.w, self.c)

    @property
    def vec(self):
        """An embedding's values as a float32 numpy array of length dim."""
        import numpy as np
        dim = struct.unpack_from("<I", self.body)[0]
        return np.frombuffer(self.body, "<f4", dim, 4)


def record(kind, key, body=b"", label=-1):
    """The bytes of one record: header (CRC-32 over header bytes 0-19, key,
    body), key (str, UTF-8 encoded, or bytes), body."""
    k = key.encode() if isinstance(key, str) else bytes(key)
    head = HEADER.pack(MAGIC, 1, kind, len(k), len(body), label, 0)[:20]
    return head + struct.pack("<I", zlib.crc32(head + k + body)) + k + body


def image_record(key, w, h, c, enc, data, label=-1):
    """An image record: the 8-byte image head (w, h, c, enc, reserved 0),
    then DATA (raw pixels or a JPEG file)."""
    return record(IMAGE, key, struct.pack("<HHBBH", w, h, c, enc, 0) + bytes(data), label)


def embedding_record(key, vec, label=-1):
    """An embedding record: u32 dim, then the values of VEC as float32."""
    vals = [float(v) for v in vec]
    return record(EMBEDDING, key, struct.pack("<I%df" % len(vals), len(vals), *vals), label)


def end_record():
    """The end-of-stream record: kind 0, no key, no body, label -1."""
    return record(END, b"", b"", -1)


def write_stream(path, records, end=True):
    """Writes the record bytes in RECORDS to PATH, then (if END) an end
    record."""
    with open(path, "wb") as f:
        for r in records:
            f.write(r)
        if end:
            f.write(end_record())


def iter_records(data):
    """Yields every record of the stream DATA (bytes) as a Record, end
    records included, in order.  Raises ValueError on a bad magic or
    version, a record cut short, or a CRC mismatch."""
    pos, n = 0, 0
    while pos < len(data):
        if len(data) - pos < HEADER.size:
            raise ValueError("record %d: truncated header" % n)
        magic, ver, kind, klen, blen, label, crc = HEADER.unpack_from(data, pos)
        if magic != MAGIC or ver != 1:
            raise ValueError("record %d: bad magic or version" % n)
        end = pos + HEADER.size + klen + blen
        if end > len(data):
            raise ValueError("record %d: truncated" % n)
        key = data[pos + HEADER.size:pos + HEADER.size + klen]
        body = data[pos + HEADER.size + klen:end]
        if zlib.crc32(data[pos:pos + 20] + key + body) != crc:
            raise ValueError("record %d: CRC mismatch" % n)
        yield Record(kind, key.decode(), label, bytes(body))
        pos, n = end, n + 1


def read_records(src):
    """The data records (all but end records) of a whole stream, a list of
    Record; SRC is the stream's bytes or a file name.  Checks as
    iter_records() does, and raises ValueError unless the stream ends with
    an end record."""
    if not isinstance(src, (bytes, bytearray)):
        with open(src, "rb") as f:
            src = f.read()
    out, ended = [], False
    for r in iter_records(src):
        ended = r.kind == END
        if not ended:
            out.append(r)
    if not ended:
        raise ValueError("no end-of-stream record")
    return out
