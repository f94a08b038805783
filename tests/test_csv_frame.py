"""Reading a CSV file (grunet.data.csv_frame): files saved by other tools (byte order marks, UTF-16, other
separators, decimal commas, compressed) are read; corrupt and truncated archives, other encodings and rows with more
fields than the header are refused in one line that names the file."""

import bz2
import codecs
import gzip
import io
import lzma
import re
import tarfile
import zipfile

import pytest
from csv_cases import one_line, write_text

from grunet.data.csv_frame import read_frame
from grunet.data.csvfile import load_csv


def _gz(data):
    return gzip.compress(data)


def _zip(*members, method=zipfile.ZIP_DEFLATED):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def _tar(data):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("data.csv")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


GOOD = b"date,value\n" + b"".join(f"2020-01-{day:02d},{day}\n".encode() for day in range(1, 29))


def _cut(data):
    return data[: len(data) // 2]


def _spoil(data):
    middle = len(data) // 2
    return data[: middle - 8] + bytes(16) + data[middle + 8 :]


# a compressed file's name and bytes -> the words of its one-line refusal
CORRUPT = [
    ("data.csv.gz", _cut(_gz(GOOD)), "is not a readable CSV file: Compressed file ended"),
    ("data.csv.gz", _spoil(_gz(GOOD)), "is not a readable CSV file"),
    ("data.csv.gz", b"\x1f\x8b not gzip", "is not a readable CSV file"),
    ("data.csv.gz", _gz(b""), "is empty"),
    ("data.csv.bz2", _cut(bz2.compress(GOOD)), "is not a readable CSV file: Compressed file ended"),
    ("data.csv.bz2", _spoil(bz2.compress(GOOD)), "is not a readable CSV file"),
    ("data.csv.xz", _cut(lzma.compress(GOOD)), "is not a readable CSV file: Compressed file ended"),
    ("data.csv.xz", _spoil(lzma.compress(GOOD)), "is not a readable CSV file"),
    ("data.csv.zip", _cut(_zip(("data.csv", GOOD))), "is not a readable CSV file: File is not a zip file"),
    ("data.csv.zip", _spoil(_zip(("data.csv", GOOD * 20))), "is not a readable CSV file"),
    ("data.csv.zip", _zip(("a.csv", GOOD), ("b.csv", GOOD)), "Multiple files found in ZIP file"),
    ("data.csv.zip", _zip(), "Zero files found in ZIP file"),
    ("data.tar", _tar(GOOD)[:700], "is not a readable CSV file"),
    ("data.tar", b"\x00" * 2048, "is not a readable CSV file"),
    ("data.tar.gz", _cut(_gz(_tar(GOOD))), "is not a readable CSV file"),
    ("data.csv.zst", b"\x28\xb5\x2f\xfd" + b"\x00" * 12, "data file"),  # zstandard missing, or a corrupt frame
    ("data.csv", bytes(range(256)), "is not UTF-8 text (byte 0x80 at byte 128 of the text): save it as UTF-8"),
    ("data.csv", "date,value\n2020-01-01,1\n2020-01-02,é\n".encode("latin-1"), "is not UTF-8 text (byte 0xe9"),
]


@pytest.mark.parametrize("name,data,words", CORRUPT, ids=[f"{row[0]}-{k}" for k, row in enumerate(CORRUPT)])
def test_corrupt_and_truncated_archives_are_one_line_errors(tmp_path, name, data, words):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ValueError, match=re.escape(words)) as caught:
        load_csv(path, time_col="date")
    assert one_line(caught) and str(path) in str(caught.value) and " object at 0x" not in str(caught.value)


# files saved by other tools -> read as the plain CSV
ODD = [
    ("data.csv", codecs.BOM_UTF8 + GOOD),
    ("data.csv", GOOD.decode().encode("utf-16")),  # spreadsheets' "Unicode text", with its byte order mark
    ("data.csv", GOOD.replace(b",", b";")),
    ("data.csv", GOOD.replace(b",", b";").replace(b"\n2020", b"\n2020").replace(b";1\n", b";1,0\n")),
    ("data.tsv", GOOD.replace(b",", b"\t")),
    ("data.csv", GOOD.replace(b",", b"|")),
    ("data.csv", GOOD.replace(b"\n", b"\r\n")),
    ("data.csv.gz", _gz(codecs.BOM_UTF8 + GOOD)),
    ("data.csv.zip", _zip(("data.csv", GOOD.replace(b",", b";")))),
    ("data.tar", _tar(GOOD)),
]


@pytest.mark.parametrize("name,data", ODD, ids=[f"{row[0]}-{k}" for k, row in enumerate(ODD)])
def test_files_saved_by_other_tools_are_read(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    series = load_csv(path, time_col="date")
    assert series.columns == ["value"] and series.freq == "D"
    assert series.values[0][:, 0].tolist() == list(range(1, 29))


def test_semicolon_files_read_decimal_commas(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("Datum;Umsatz;Preis\n12.03.2020;1,5;2\n13.03.2020;2,25;3.5\n15.03.2020;3;4\n")
    series = load_csv(path, time_col="Datum", target="Umsatz", features=["Preis"], fill="interpolate")
    assert series.values[0].tolist() == [[1.5, 2.0], [2.25, 3.5], [2.625, 3.75], [3.0, 4.0]]
    assert series.time_labels(0, series.future_times(0, 1)) == ["16.03.2020"]


# rows that do not fit the header -> the one-line refusal (pandas alone would take an extra first field for an
# index and shift every column, or drop an extra last field)
RAGGED = [
    (
        "when,value\nJan 15, 2000,0\nFeb 15, 2000,1\n",
        "line 2 (3 fields) has more fields than its header's 2 (when, value); quote values that hold the separator",
    ),
    ("when,value\n2000-01-01,0\n2000-01-02,1,5\n", "Expected 2 fields in line 3, saw 3"),
    ("a;b\n1;2;3\n", "line 2 (3 fields) has more fields than its header's 2 (a, b)"),
]


@pytest.mark.parametrize("text,words", RAGGED, ids=[row[1][:20] for row in RAGGED])
def test_rows_with_more_fields_than_the_header_are_refused(tmp_path, text, words):
    with pytest.raises(ValueError, match=re.escape(words)) as caught:
        read_frame(write_text(tmp_path, text))
    assert one_line(caught)


def test_a_repeated_column_name_is_refused(tmp_path):
    """pandas renames a repeated name (y, y.1): which one is the target would be a guess."""
    path = tmp_path / "dup.csv"
    path.write_text("date,y,y\n2020-01-01,1,2\n2020-02-01,1,3\n")
    with pytest.raises(ValueError, match=r"dup.csv: two columns are named 'y' \(columns 2 and 3\)"):
        read_frame(path)
    path.write_text("date; y ;y\n2020-01-01;1;2\n")
    with pytest.raises(ValueError, match="two columns are named 'y'"):
        read_frame(path)


def test_text_columns_are_read_as_written(tmp_path):
    """An id column is text as written: "007" and "7" differ, "NA" (Namibia) and "None" are names; only an empty
    field is missing. The other columns keep pandas' reading (NA is missing there)."""
    path = tmp_path / "ids.csv"
    path.write_text("id,y\n007,1\n7,NA\nNA,3\nNone,4\n1e3,5\n,6\n")
    frame = read_frame(path, ["id"])
    assert frame["id"].tolist()[:5] == ["007", "7", "NA", "None", "1e3"] and frame["id"].isna().tolist()[5]
    assert frame["y"].isna().tolist() == [False, True, False, False, False, False]
    assert read_frame(path)["id"].isna().sum() == 3  # not asked: pandas' own reading
