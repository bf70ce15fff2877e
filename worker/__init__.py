if __name__ != "omniroute.worker":  # the folder is installed as a subpackage of omniroute
    raise ImportError(f"import omniroute.worker, not {__name__}")
