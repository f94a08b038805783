"""Series in: the built-in data sets, CSV files and their time stamps, calendar features, and the data settings."""
