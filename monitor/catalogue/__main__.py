"""python -m monitor.catalogue: refresh the table in docs/outcomes.md."""

from monitor.catalogue.docs import write_catalogue_docs

if __name__ == "__main__":  # not when imported (the doctest run imports every module)
    print(
        "docs/outcomes.md", "updated" if write_catalogue_docs("docs/outcomes.md") else "unchanged"
    )
