"""The messages sent to requesters and staff (French, with an Arabic line), composed when
queued: the job carries the finished text."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import asyncpg

from geoportal.jobs.mail import Mail
from geoportal.renseignement.labels import status_fr

AGENCY_TZ = ZoneInfo("Africa/Casablanca")
SIGNATURE = "\n--\nAgence urbaine de Casablanca — e-renseignement\n" \
            "Message automatique : merci de ne pas y répondre.\n"


def local_date(moment: dt.datetime) -> str:
    """A moment as a date in Casablanca (JJ/MM/AAAA)."""
    return moment.astimezone(AGENCY_TZ).strftime("%d/%m/%Y")


def acknowledgement(to: str, name: str, number: str, link: str, due_at: dt.datetime) -> Mail:
    """The acknowledgement of a new request, with its private tracking link."""
    text = (
        f"Bonjour {name},\n\n"
        f"Votre demande de note de renseignement urbanistique est enregistrée sous le numéro "
        f"{number}.\nL'Agence s'engage à y répondre avant le {local_date(due_at)}.\n\n"
        f"Suivez-la à cette adresse personnelle (ne la partagez pas) :\n{link}\n\n"
        f"تم تسجيل طلبكم لمذكرة المعلومات التعميرية تحت رقم {number}. "
        f"يمكنكم تتبعه عبر الرابط أعلاه.\n" + SIGNATURE)
    return Mail.new(to, f"Demande {number} enregistrée — e-renseignement", text)


def piece_requested(to: str, name: str, number: str, link: str, message: str) -> Mail:
    """The agency asks the requester for a missing piece."""
    text = (
        f"Bonjour {name},\n\n"
        f"Pour instruire votre demande {number}, l'Agence a besoin d'une pièce "
        f"complémentaire :\n\n{message}\n\n"
        f"Déposez-la sur la page de suivi de votre demande :\n{link}\n\n"
        f"يرجى إيداع الوثيقة المطلوبة عبر صفحة تتبع الطلب رقم {number}.\n" + SIGNATURE)
    return Mail.new(to, f"Demande {number} : pièce à fournir — e-renseignement", text)


def refusal(to: str, name: str, number: str, link: str, reason: str) -> Mail:
    """The request is refused, with the reason."""
    text = (
        f"Bonjour {name},\n\n"
        f"Votre demande {number} ne peut pas aboutir, pour la raison suivante :\n\n"
        f"{reason}\n\nLe détail reste consultable sur la page de suivi :\n{link}\n\n"
        f"نأسف لإبلاغكم برفض الطلب رقم {number}.\n" + SIGNATURE)
    return Mail.new(to, f"Demande {number} refusée — e-renseignement", text)


def note_issued(to: str, name: str, number: str, link: str, pdf_url: str,
                verify_url: str) -> Mail:
    """The note is signed: where to download it (with a tracking link of its own) and
    where anyone may check it."""
    text = (
        f"Bonjour {name},\n\n"
        f"La note de renseignement urbanistique n° {number} est signée et délivrée.\n\n"
        f"Téléchargez-la (PDF signé) :\n{pdf_url}\n\n"
        f"Elle reste disponible, avec sa version JSON, sur la page de suivi de votre demande "
        f"(adresse personnelle, ne la partagez pas) :\n{link}\n\n"
        f"Toute personne peut vérifier son authenticité à cette adresse :\n{verify_url}\n\n"
        f"تم توقيع وتسليم مذكرة المعلومات التعميرية رقم {number}. "
        f"يمكنكم تحميلها عبر الرابط أعلاه.\n" + SIGNATURE)
    return Mail.new(to, f"Note {number} délivrée — e-renseignement", text)


def overdue_digest(to: str, rows: Sequence[asyncpg.Record], base_url: str,
                   today: dt.date) -> Mail:
    """The daily list of open requests past their due date."""
    lines = [f"{len(rows)} demande(s) en retard au {today:%d/%m/%Y} :", ""]
    for row in rows:
        late = int(row["late_days"])
        lines.append(
            f"- {row['number']} · {status_fr(row['status'])} · "
            f"{row['parcel_ref'] or 'contour levé'} · {row['commune_fr'] or '—'} · "
            f"échéance {local_date(row['due_at'])} ({late} j de retard) · "
            f"{row['assigned_to'] or 'non attribuée'}\n  {base_url}/renseignement/admin/"
            f"requests/{row['id']}")
    if not rows:
        lines.append("Aucune demande en retard.")
    return Mail.new(to, f"e-renseignement : {len(rows)} demande(s) en retard",
                    "\n".join(lines) + "\n" + SIGNATURE)
