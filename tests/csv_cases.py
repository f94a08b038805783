"""Helpers shared by the CSV tests: a file written from text, loaded, and the one-line check of an error."""

from grunet.data.csvfile import load_csv


def write_text(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def load_text(tmp_path, text, **kwargs):
    return load_csv(write_text(tmp_path, text), **kwargs)


def csv_text(header, rows):
    return header + "\n" + "".join(",".join(map(str, row)) + "\n" for row in rows)


def one_line(error):
    return str(error.value).count("\n") == 0
