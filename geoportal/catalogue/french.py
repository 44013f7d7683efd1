"""pygeoapi's pages in French: the service's own translation of the texts of its templates
(``{% trans %}``), compiled into a gettext catalogue that pygeoapi loads from
``server.locale_dir`` (the installed pygeoapi ships none)."""

from __future__ import annotations

import os
import tempfile
from io import BytesIO
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo

FRENCH = {
    "text_direction": "ltr",
    "API Definition": "Définition de l'API", "Address": "Adresse", "Admin": "Administration",
    "Assets": "Ressources", "Asynchronous": "Asynchrone", "Browse": "Parcourir",
    "Browse Items": "Parcourir les objets", "Browse jobs": "Parcourir les tâches",
    "Browse through the items of": "Parcourir les objets de", "CRS": "SRC",
    "Collections": "Collections", "Conformance": "Conformité", "Contact": "Contact",
    "Contact URL": "Site de contact", "Contact instructions": "Pour nous contacter",
    "Contact point": "Point de contact", "Data Type": "Type de données",
    "Data collections in this service": "Collections de données de ce service",
    "Description": "Description", "Display Queryables": "Propriétés interrogeables",
    "Display Queryables of": "Propriétés interrogeables de", "Display Schema": "Schéma",
    "Display Schema of": "Schéma de", "Display Tiles": "Tuiles", "Display Tiles of": "Tuiles de",
    "Documentation": "Documentation", "Duration": "Durée", "Email": "Courriel",
    "Epoch": "Époque", "Exception": "Exception", "Execution modes": "Modes d'exécution",
    "Fax": "Télécopie", "Finished processing": "Fin du traitement", "Home": "Accueil",
    "Hours": "Horaires", "Id": "Identifiant", "Inputs": "Entrées", "Instance": "Instance",
    "Instances": "Instances", "Item": "Objet", "Items": "Objets",
    "Items in this collection": "Objets de cette collection", "JSON": "JSON",
    "Job ID": "Identifiant de la tâche", "Job result": "Résultat de la tâche",
    "Job status": "État de la tâche", "Jobs": "Tâches", "Last Modified": "Dernière modification",
    "Last modified": "Dernière modification", "License": "Licence", "Limit": "Limite",
    "Links": "Liens", "Message": "Message", "Metadata": "Métadonnées", "Name": "Nom",
    "Next": "Suivant", "No items": "Aucun objet", "OpenAPI Document": "Document OpenAPI",
    "Outputs": "Sorties", "Parameters": "Paramètres", "Powered by ": "Propulsé par ",
    "Prev": "Précédent", "Process ID": "Identifiant du traitement", "Processes": "Traitements",
    "Processes in this service": "Traitements de ce service", "Progress": "Avancement",
    "Property": "Propriété", "Provider": "Fournisseur", "Queryables": "Propriétés interrogeables",
    "ReDoc": "ReDoc", "Record collections in this service": "Catalogues de ce service",
    "Reference Systems": "Systèmes de référence", "Results": "Résultats",
    "Results of job": "Résultats de la tâche", "STAC Version": "Version STAC",
    "Schema": "Schéma", "Size": "Taille",
    "SpatioTemporal Asset Catalog": "Catalogue de ressources spatio-temporelles (STAC)",
    "SpatioTemporal Assets": "Ressources spatio-temporelles", "Start": "Début",
    "Started processing": "Début du traitement", "Status": "État",
    "Storage CRS": "SRC de stockage", "Swagger UI": "Swagger UI", "Synchronous": "Synchrone",
    "Telephone": "Téléphone", "Terms of service": "Conditions d'utilisation",
    "Tile Matrix Set": "Grille de tuilage", "Tile Matrix Sets": "Grilles de tuilage",
    "Tile matrix sets available in this service": "Grilles de tuilage de ce service",
    "TileJSON": "TileJSON", "TileMatrixSet": "Grille de tuilage",
    "TileMatrixSets": "Grilles de tuilage", "Tiles": "Tuiles", "Title": "Titre", "Type": "Type",
    "URL": "URL", "Value": "Valeur",
    "View the SpatioTemporal Assets in this service":
        "Voir les ressources spatio-temporelles de ce service",
    "View the Tile Matrix Sets available on this service": "Voir les grilles de tuilage de ce "
                                                           "service",
    "View the collections in this service": "Voir les collections de ce service",
    "View the conformance classes of this service": "Voir les classes de conformité de ce "
                                                    "service",
    "View the processes in this service": "Voir les traitements de ce service",
    "Warning: Basemap may be in a different projection":
        "Attention : le fond de carte peut être dans une autre projection",
    "Warning: Higher limits not recommended!": "Attention : une limite plus haute est "
                                               "déconseillée !",
    "default": "par défaut", "description": "description", "extent": "emprise",
    # names that stay as they are (formats, keys)
    "id": "id", "json": "json", "jsonld": "jsonld", "cube:dimensions": "cube:dimensions",
    "cube:variables": "cube:variables",
}
"""Each text of pygeoapi's templates (as pygeoapi 0.21 writes it) and its French."""


def catalogue_bytes() -> bytes:
    """The compiled (``.mo``) French catalogue."""
    catalog = Catalog(locale="fr", domain="messages", charset="utf-8")
    for source, french in FRENCH.items():
        catalog.add(source, french)
    out = BytesIO()
    write_mo(out, catalog)
    return out.getvalue()


def locale_dir(home: Path) -> Path:
    """A ``locale_dir`` for pygeoapi holding the French catalogue, written under ``home``
    when missing or different (atomically: several workers may start at once)."""
    folder = home / "pygeoapi-locale"
    target = folder / "fr" / "LC_MESSAGES" / "messages.mo"
    content = catalogue_bytes()
    if not target.exists() or target.read_bytes() != content:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as temporary:
            temporary.write(content)
        os.replace(temporary.name, target)
    return folder
