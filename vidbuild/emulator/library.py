"""The account's side of the emulated API: GET /v2/videos, /v2/videos/{video_id} and /v2/user/remaining_quota.

Shapes from HeyGen's published description (VideoDetail, StandardAPIError in heygen-cli's
codegen/external-api.json) and, for the quota, from HeyGen's MCP server and n8n node.
"""

from __future__ import annotations

import json
from typing import Any, Final

from vidbuild.emulator import v3_payloads
from vidbuild.emulator.config import EmulatorConfig
from vidbuild.emulator.messages import EmulatorRequest, EmulatorResponse, v2_ok
from vidbuild.emulator.store import Video, VideoStore

VIDEOS_PREFIX: Final = "/v2/videos/"


def standard_error(status: int, code: str, message: str, param: str | None = None) -> EmulatorResponse:
    """An error in the newer envelope: ``{"error": {"code", "message", "param", "doc_url"}}``."""
    body = json.dumps({"error": {"code": code, "message": message, "param": param,
                                 "doc_url": None}}).encode()
    return EmulatorResponse(status, {"Content-Type": "application/json",
                                     "Content-Length": str(len(body))}, body)


def video_detail(video: Video, config: EmulatorConfig, base_url: str, now: float) -> dict[str, Any]:
    """One VideoDetail, the same shape HeyGen's description gives GET /v2/videos and /v3/videos."""
    return v3_payloads.detail(video, base_url, now, config.url_ttl)


def remaining_quota(config: EmulatorConfig, store: VideoStore) -> EmulatorResponse:
    """GET /v2/user/remaining_quota: seconds of video left, every video made so far paid for
    except failed ones (HeyGen charges no failed render)."""
    spent = sum(video.duration for video in store.videos() if video.error is None)
    left = max(0, int(config.quota_seconds - spent))
    return v2_ok({"remaining_quota": left,
                  "details": {"api": left, "streaming_avatar": 0,
                              "streaming_avatar_instance_quota": 0, "seat": 1}})


def detail_response(request: EmulatorRequest, config: EmulatorConfig, store: VideoStore,
                    now: float) -> EmulatorResponse:
    """GET /v2/videos/{video_id}: ``{"data": VideoDetail}``, or 404 ``not_found``."""
    video_id = request.path[len(VIDEOS_PREFIX):]
    video = store.video(video_id) if video_id and "/" not in video_id else None
    if video is None:
        return standard_error(404, "not_found", "Video not found.")
    return _data_response({"data": video_detail(video, config, request.base_url, now)})


def list_response(videos: list[Video], next_token: str | None, request: EmulatorRequest,
                  config: EmulatorConfig, now: float) -> EmulatorResponse:
    """GET /v2/videos: ``{"data": [VideoDetail…], "has_more", "next_token"}``."""
    return _data_response({"data": [video_detail(v, config, request.base_url, now) for v in videos],
                           "has_more": next_token is not None, "next_token": next_token})


def _data_response(payload: dict[str, Any]) -> EmulatorResponse:
    body = json.dumps(payload).encode()
    return EmulatorResponse(200, {"Content-Type": "application/json",
                                  "Content-Length": str(len(body))}, body)
