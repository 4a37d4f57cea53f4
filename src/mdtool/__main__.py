"""`python -m mdtool` runs the same CLI as the `mdtool` console script."""

from mdtool.cli import main

if __name__ == "__main__":
    main()
