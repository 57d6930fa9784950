"""Web: the pages people open — the links in every email (links.py) and the editor's
desk (desk.py) — on one small HTTP layer (http.py)."""
