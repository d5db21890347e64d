"""The emulated account as HeyGen's v3 API shows it: avatar looks, voices and the user's credits.

The same avatars, talking photos and voices as the v2 catalogue (``catalogue.py``): a v2
avatar's ``avatar_id`` is a ``studio_avatar`` look's ``id`` and a talking photo's
``talking_photo_id`` a ``photo_avatar`` look's ``id``, so an id means the same in both
generations. Shapes from heygen-cli's gen/avatar.go, gen/voice.go and gen/user.go.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from vidbuild.emulator import catalogue

STUDIO_AVATAR: Final = "studio_avatar"
PHOTO_AVATAR: Final = "photo_avatar"
LOOK_TYPES: Final = (STUDIO_AVATAR, "digital_twin", PHOTO_AVATAR)
ENGINES: Final = ("avatar_iii", "avatar_iv", "avatar_v")

# The account's plan and what it starts with; credits are minutes of finished video.
PLAN: Final = "pro"
STARTING_CREDITS: Final = 600


@dataclass(frozen=True)
class Look:
    """One avatar look; ``id`` is what POST /v3/videos takes as ``avatar_id``."""

    id: str
    name: str
    avatar_type: str
    group_id: str
    gender: str | None
    engines: tuple[str, ...]
    default_voice_id: str

    @property
    def is_photo(self) -> bool:
        return self.avatar_type == PHOTO_AVATAR


def _default_voice(gender: str | None) -> str:
    for voice in catalogue.VOICES:
        if voice.language == "English" and voice.gender == gender:
            return voice.voice_id
    return catalogue.VOICES[0].voice_id


def _group(avatar_id: str) -> str:
    return "group-" + re.split(r"[-_]", avatar_id, maxsplit=1)[0].lower()


def _looks() -> tuple[Look, ...]:
    studio = [
        # Premium avatars also take the newest engine, so a test can pick either kind.
        Look(a.avatar_id, a.name, STUDIO_AVATAR, _group(a.avatar_id), a.gender,
             ENGINES if a.premium else ("avatar_iii", "avatar_iv"), _default_voice(a.gender))
        for a in catalogue.AVATARS
    ]
    photos = [
        Look(t.talking_photo_id, t.name, PHOTO_AVATAR, f"group-{t.talking_photo_id}", None,
             ("avatar_iii", "avatar_iv"), _default_voice(None))
        for t in catalogue.TALKING_PHOTOS
    ]
    return (*studio, *photos)


LOOKS: Final = _looks()
LOOKS_BY_ID: Final = {look.id: look for look in LOOKS}


def look_payload(look: Look, base_url: str) -> dict[str, Any]:
    """One item of GET /v3/avatars/looks; previews are the v2 catalogue's files."""
    group = "talking_photos" if look.is_photo else "avatars"
    static = f"{base_url}/static/{group}/{look.id}"
    return {
        "id": look.id, "name": look.name, "avatar_type": look.avatar_type,
        "group_id": look.group_id, "gender": look.gender,
        "supported_api_engines": list(look.engines), "default_voice_id": look.default_voice_id,
        "preview_image_url": f"{static}.jpg",
        "preview_video_url": None if look.is_photo else f"{static}.mp4",
        "preferred_orientation": "landscape", "tags": [],
    }


def voice_payload(voice: catalogue.Voice, base_url: str) -> dict[str, Any]:
    """One item of GET /v3/voices."""
    return {
        "voice_id": voice.voice_id, "name": voice.name, "language": voice.language,
        "gender": voice.gender, "type": "public", "support_pause": voice.support_pause,
        "support_locale": voice.language == "English",
        "preview_audio_url": f"{base_url}/static/voices/{voice.voice_id}.mp3",
    }


def user_payload(credits_used: int, starting: float = STARTING_CREDITS) -> dict[str, Any]:
    """The ``data`` of GET /v3/users/me: a subscription of ``starting`` credits, which finished
    videos used up."""
    return {
        "username": "vidbuild-emulator", "email": "emulator@vidbuild.invalid",
        "first_name": "Emulated", "last_name": "Account",
        "billing_type": "subscription",
        "subscription": {
            "plan": PLAN,
            "credits": {
                "premium_credits": {"remaining": max(0, starting - credits_used),
                                    "resets_at": None},
                "add_on_credits": {"remaining": 0, "resets_at": None},
            },
        },
        "wallet": None, "usage_based": None,
    }
