"""Real data sets and input coding: readers, verified fetchers, the data folder, audio front end, rank-order coding."""
