"""The emulator's avatars, talking photos and voices, and the GET /v2/avatars and /v2/voices payloads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final


@dataclass(frozen=True)
class Avatar:
    avatar_id: str
    name: str
    gender: str
    premium: bool = False


@dataclass(frozen=True)
class TalkingPhoto:
    talking_photo_id: str
    name: str


@dataclass(frozen=True)
class Voice:
    voice_id: str
    name: str
    language: str
    gender: str
    emotion_support: bool = False
    support_pause: bool = True
    support_interactive_avatar: bool = False


# The first four are used by vidbuild's example projects; the rest make the list look lived in.
AVATARS: Final = (
    Avatar("Daisy-inskirt-20220818", "Daisy in Skirt", "female"),
    Avatar("Mark-costume-1234", "Mark in Costume", "male"),
    Avatar("Anna_public_3_20240108", "Anna in Blazer", "female"),
    Avatar("Tyler-incasualsuit-20220721", "Tyler in Casual Suit", "male"),
    Avatar("Angela-inblackskirt-20220820", "Angela in Black Skirt", "female"),
    Avatar("Brandon_expressive_public", "Brandon (Expressive)", "male", premium=True),
    Avatar("Kristin_public_2_20240108", "Kristin at the Office", "female"),
    Avatar("Josh_lite3_20230714", "Josh Lite", "male"),
    Avatar("Monica_inSleeveless_20220819", "Monica in Sleeveless", "female"),
    Avatar("Wayne_20240711", "Wayne", "male", premium=True),
    Avatar("Lina_Dress_Sitting_Side_public", "Lina Sitting", "female"),
    Avatar("Eric_public_pro2_20230608", "Eric in Shirt", "male"),
)

TALKING_PHOTOS: Final = (
    TalkingPhoto("tp-7f2c1d9e", "Founder portrait"),
    TalkingPhoto("tp-3a9b0c41", "Support lead portrait"),
    TalkingPhoto("tp-c5e8d027", "Sales portrait"),
)

VOICES: Final = (
    Voice("2d5b0e6cf36f460aa7fc47e3eee4ba54", "Rachel - Friendly", "English", "female",
          emotion_support=True),
    Voice("1bd001e7e50f421d891986aad5158bc8", "Paul - Natural", "English", "male",
          support_interactive_avatar=True),
    Voice("131a436c47064f708210df6628ef8f32", "Sara - Cheerful", "English", "female",
          emotion_support=True),
    Voice("56320ddd565f4809ac36d1d45d373d20", "Oliver - Calm", "English", "male"),
    Voice("1e3d542879874124b0d67c1c00168efc", "Grace - Broadcaster", "English", "female",
          emotion_support=True),
    Voice("c93588237161456c83e8fb4493951cc1", "Lucia - Warm", "Spanish", "female"),
    Voice("b199f490abdd4eea8679bee90e9bb612", "Mateo - Clear", "Spanish", "male"),
    Voice("5935efbc4a494885b5f73406dc8da1f2", "Camille - Soft", "French", "female"),
    Voice("07b72a7ec5cb4d8898c879248891b695", "Louis - Steady", "French", "male"),
    Voice("4b40b08517cd4311a3e933139b6211eb", "Lena - Bright", "German", "female"),
    Voice("f80e3f673c404651a7f5a4a383d449b5", "Jonas - Deep", "German", "male",
          support_pause=False),
    Voice("d52913aae92546b99050f565b2fe52f8", "Giulia - Lively", "Italian", "female"),
    Voice("fa9c3c84919744ef91f71464ab596935", "Ana - Gentle", "Portuguese", "female"),
    Voice("9f734ecdfad44b2b992ac5ded8205b1b", "Haruto - Polite", "Japanese", "male"),
    Voice("b5df9e9b68094422a4c2db34a7f6be97", "Priya - Crisp", "English", "female",
          emotion_support=True),
)

AVATAR_IDS: Final = frozenset(a.avatar_id for a in AVATARS)
TALKING_PHOTO_IDS: Final = frozenset(t.talking_photo_id for t in TALKING_PHOTOS)
VOICES_BY_ID: Final = {v.voice_id: v for v in VOICES}


def avatars_payload(base_url: str) -> dict[str, Any]:
    """The ``data`` of GET /v2/avatars; previews are served by the emulator at ``base_url``."""
    static = f"{base_url}/static"
    return {
        "avatars": [
            {
                "avatar_id": a.avatar_id,
                "avatar_name": a.name,
                "gender": a.gender,
                "preview_image_url": f"{static}/avatars/{a.avatar_id}.jpg",
                "preview_video_url": f"{static}/avatars/{a.avatar_id}.mp4",
                "premium": a.premium,
            }
            for a in AVATARS
        ],
        "talking_photos": [
            {
                "talking_photo_id": t.talking_photo_id,
                "talking_photo_name": t.name,
                "preview_image_url": f"{static}/talking_photos/{t.talking_photo_id}.jpg",
            }
            for t in TALKING_PHOTOS
        ],
    }


def voices_payload(base_url: str) -> dict[str, Any]:
    """The ``data`` of GET /v2/voices."""
    return {
        "voices": [
            {
                "voice_id": v.voice_id,
                "language": v.language,
                "gender": v.gender,
                "name": v.name,
                "preview_audio": f"{base_url}/static/voices/{v.voice_id}.mp3",
                "support_pause": v.support_pause,
                "emotion_support": v.emotion_support,
                "support_interactive_avatar": v.support_interactive_avatar,
            }
            for v in VOICES
        ]
    }
