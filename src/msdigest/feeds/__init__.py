"""Feeds: retrievers fetch bytes (http, file, bundled), parsers turn them into summaries.

As in lemon24's reader, the two are apart: a retriever knows nothing of feed formats,
a parser nothing of where the bytes came from. Neither touches the store; that is
`msdigest.collect`.
"""
