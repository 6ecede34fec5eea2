"""Encoding at the data holder: normalised fields -> keyed tokens, Bloom filters, event tokens.

``encode_holder`` turns one holder's table (and its events table) into the encoded file
sent to the linkage unit, the crosswalk kept by the holder, and the rejects.
"""

from linkage.encoding.encoded_file import EncodedFile, check_compatible, read_encoded, write_encoded
from linkage.encoding.holder import EncodeResult, encode_holder

__all__ = ["EncodedFile", "EncodeResult", "check_compatible", "encode_holder", "read_encoded", "write_encoded"]
