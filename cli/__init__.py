if __name__ != "omniroute.cli":  # the folder is installed as a subpackage of omniroute
    raise ImportError(f"import omniroute.cli, not {__name__}")
