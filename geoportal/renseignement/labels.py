"""What the statuses, capacities and actions are called, in French and in Arabic."""

from __future__ import annotations

from typing import Literal

Status = Literal["submitted", "under_review", "waiting_requester", "ready_to_sign", "issued",
                 "refused"]
Capacity = Literal["owner", "mandated", "notary", "architect", "other"]
PieceKind = Literal["ownership", "plan", "mandate", "other"]

STATUSES: dict[str, tuple[str, str]] = {
    "submitted": ("Déposée", "مودعة"),
    "under_review": ("En cours d'instruction", "قيد الدراسة"),
    "waiting_requester": ("En attente d'une pièce du demandeur", "في انتظار وثيقة من الطالب"),
    "ready_to_sign": ("Prête à signer", "جاهزة للتوقيع"),
    "issued": ("Délivrée", "مسلمة"),
    "refused": ("Refusée", "مرفوضة"),
}
OPEN_STATUSES = ("submitted", "under_review", "waiting_requester", "ready_to_sign")
CAPACITIES: dict[str, tuple[str, str]] = {
    "owner": ("Propriétaire", "مالك"),
    "mandated": ("Mandataire du propriétaire", "وكيل عن المالك"),
    "notary": ("Notaire", "موثق"),
    "architect": ("Architecte", "مهندس معماري"),
    "other": ("Autre", "آخر"),
}
PIECES: dict[str, tuple[str, str]] = {
    "ownership": ("Certificat de propriété", "شهادة الملكية"),
    "plan": ("Plan (cadastral visé ou topographique)", "تصميم مساحي أو طبوغرافي"),
    "mandate": ("Mandat du propriétaire", "وكالة المالك"),
    "other": ("Autre pièce", "وثيقة أخرى"),
    "outline": ("Contour levé (fichier)", "حدود القطعة (ملف)"),
}
# What each recorded action is called on the pages (the requester sees the public ones).
ACTIONS: dict[str, str] = {
    "submitted": "Demande déposée",
    "taken": "Prise en charge pour instruction",
    "piece_requested": "Pièce demandée au demandeur",
    "piece_received": "Pièce reçue du demandeur",
    "observation": "Observation ajoutée à la note",
    "refused": "Demande refusée",
    "approved": "Approuvée, transmise pour signature",
    "signed": "Note signée et délivrée",
    "mail_sent": "Courriel envoyé",
}
NOTE_STATUSES: dict[str, tuple[str, str]] = {
    "valid": ("En vigueur", "سارية"),
    "superseded": ("Remplacée par une note plus récente", "عوضت بمذكرة أحدث"),
    "revoked": ("Révoquée", "ملغاة"),
}
PUBLIC_ACTIONS = frozenset({"submitted", "taken", "piece_requested", "piece_received",
                            "refused", "approved", "signed"})


def status_fr(status: str) -> str:
    """The status in French."""
    return STATUSES.get(status, (status, status))[0]


def status_ar(status: str) -> str:
    """The status in Arabic."""
    return STATUSES.get(status, (status, status))[1]
