"""The "Vérifier une preuve" form: a proof bundle, optionally the file it covers."""

from __future__ import annotations

import json

from django import forms
from django.core.exceptions import ValidationError

from . import keys, timestamps, verifier

MAX_BUNDLE_BYTES = 5 * 1024 * 1024
MAX_DATA_BYTES = 50 * 1024 * 1024


class BundleForm(forms.Form):
    bundle = forms.FileField(
        label="Paquet de preuve (fichier .json)",
        help_text="Le fichier « preuve » téléchargé avec l'accusé de réception. Pour un pli, il contient "
        "l'ouverture de l'engagement que publie le journal : les faits du pli et l'aléa.",
    )
    data = forms.FileField(
        label="Fichier horodaté",
        required=False,
        help_text="Facultatif : le fichier dont l'empreinte a été horodatée, pour vérifier qu'il "
        "est identique. Pour un pli, son bordereau (bordereau.json) : la page vérifie aussi que les "
        "faits engagés sont les siens, et nomme celui qui diffère.",
    )

    def clean_bundle(self):
        upload = self.cleaned_data["bundle"]
        if upload.size > MAX_BUNDLE_BYTES:
            raise ValidationError(
                f"Fichier trop grand : un paquet de preuve fait moins de {MAX_BUNDLE_BYTES // 1024**2} Mo."
            )
        try:
            document = json.loads(upload.read().decode("utf-8"))
        except UnicodeDecodeError:
            raise ValidationError(
                "Ce fichier n'est pas un paquet de preuve : il n'est pas en texte UTF-8."
            ) from None
        except (ValueError, RecursionError):
            raise ValidationError("Ce fichier n'est pas un paquet de preuve : JSON illisible.") from None
        if not isinstance(document, dict):
            raise ValidationError("Ce fichier n'est pas un paquet de preuve : un objet JSON est attendu.")
        return document

    def clean_data(self):
        upload = self.cleaned_data.get("data")
        if upload and upload.size > MAX_DATA_BYTES:
            raise ValidationError(
                f"Fichier trop grand pour être vérifié ici ({MAX_DATA_BYTES // 1024**2} Mo au plus) : "
                "utilisez le vérificateur autonome."
            )
        return upload.read() if upload else None

    def verify(self) -> verifier.Report:
        """Always against the keys this platform publishes: a bundle checked with its own
        keys proves only that it agrees with itself, which anyone can forge."""
        return verifier.verify_bundle(
            self.cleaned_data["bundle"],
            log_key=keys.material().log_key.public_key(),
            tsa_ca=timestamps.ca_certificates(),
            data=self.cleaned_data["data"],
        )
