"""The strategies compared (one list of names) and the training sets they build."""
