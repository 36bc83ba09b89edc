"""Files and inline images of a notification: allowed types, names, sizes, and checks."""

import base64
import binascii
import re
import unicodedata

from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr, ValidationInfo, field_validator

MAX_FILES = 25
MAX_TOTAL_BYTES = 10 * 1024 * 1024  # decoded, per notification

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Content type → how the file starts (None: any text) and the name people know it by.
ALLOWED = {
    "image/png": ((b"\x89PNG\r\n\x1a\n",), "PNG"),
    "image/jpeg": ((b"\xff\xd8\xff",), "JPEG"),
    "image/gif": ((b"GIF87a", b"GIF89a"), "GIF"),
    "application/pdf": ((b"%PDF-",), "PDF"),
    "text/csv": (None, "CSV"),
    XLSX: ((b"PK\x03\x04",), "XLSX"),
    "text/plain": (None, "plain text"),
}
ALLOWED_NAMES = ", ".join(f"{name} ({kind})" for kind, (_, name) in ALLOWED.items())
CONTENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,99}")
# Characters Windows and mail clients refuse in file names; they become "_".
UNSAFE_IN_NAMES = re.compile(r'[<>:"|?*]')

MESSAGES = {
    "type": "Must be one of: " + ALLOWED_NAMES + ".",
    "magic": "The content is not a {name} file.",
    "base64": "Not valid base64.",
    "empty": "The file is empty.",
    "name": "Give a file name without control or invisible characters (at most 255).",
    "inline_image": "Only PNG, JPEG and GIF images can be inline.",
    "content_id": "An inline image needs a content_id of letters, digits and . _ @ -.",
    "duplicate_cid": "Two inline images share the content_id {cid!r}.",
    "too_large": "The attachments add up to more than {mb} MB.",
}


def clean_filename(value):
    """The file name without folders and unsafe characters; ValueError when unusable."""
    name = value.replace("\\", "/").rpartition("/")[2].strip().strip(".")
    # Control, format (bidi overrides, zero-width) and separator characters can disguise
    # a name ("invoice\u202efdp.exe"): such a name is refused, not silently changed.
    invisible = any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name)
    if not name or invisible or len(name) > 255:
        raise ValueError(MESSAGES["name"])
    return UNSAFE_IN_NAMES.sub("_", name)


class Upload(BaseModel):
    """One entry of ``attachments``; ``content_base64`` is decoded into bytes."""

    model_config = ConfigDict(extra="forbid", strict=True)

    filename: StrictStr
    content_type: StrictStr
    inline: StrictBool = False
    content_id: StrictStr | None = None
    content_base64: StrictStr

    @field_validator("filename")
    @classmethod
    def _filename(cls, value):
        return clean_filename(value)

    @field_validator("content_type")
    @classmethod
    def _content_type(cls, value):
        value = value.partition(";")[0].strip().lower()
        if value not in ALLOWED:
            raise ValueError(MESSAGES["type"])
        return value

    @field_validator("content_id")
    @classmethod
    def _content_id(cls, value):
        if value is not None and not CONTENT_ID.fullmatch(value):
            raise ValueError(MESSAGES["content_id"])
        return value

    @field_validator("content_base64")
    @classmethod
    def _content(cls, value, info: ValidationInfo):
        try:
            content = base64.b64decode("".join(value.split()), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(MESSAGES["base64"]) from None
        if not content:
            raise ValueError(MESSAGES["empty"])
        content_type = info.data.get("content_type")
        if content_type in ALLOWED:
            starts, name = ALLOWED[content_type]
            if starts and not content.startswith(starts):
                raise ValueError(MESSAGES["magic"].format(name=name))
        return content

    @property
    def content(self):
        """The decoded bytes."""
        return self.content_base64

    def stored(self):
        """The values ``enqueue`` stores."""
        return {
            "filename": self.filename,
            "content_type": self.content_type,
            "inline": self.inline,
            "content_id": self.content_id if self.inline else None,
            "content": self.content,
        }


def upload_errors(uploads):
    """``{field: message}`` for rules across the list: inline images and their ids."""
    errors, seen = {}, set()
    for index, upload in enumerate(uploads):
        if not upload.inline:
            continue
        field = f"attachments[{index}]"
        if not upload.content_type.startswith("image/"):
            errors[f"{field}.inline"] = MESSAGES["inline_image"]
        elif upload.content_id is None:
            errors[f"{field}.content_id"] = MESSAGES["content_id"]
        elif upload.content_id in seen:
            errors[f"{field}.content_id"] = MESSAGES["duplicate_cid"].format(cid=upload.content_id)
        seen.add(upload.content_id)
    return errors


def total_too_large(uploads):
    """The 413 message when the decoded files exceed the limit, else None."""
    if sum(len(upload.content) for upload in uploads) > MAX_TOTAL_BYTES:
        return MESSAGES["too_large"].format(mb=MAX_TOTAL_BYTES // (1024 * 1024))
    return None
