if __name__ != "omniroute.migrations":  # the folder is installed as a subpackage of omniroute
    raise ImportError(f"import omniroute.migrations, not {__name__}")
