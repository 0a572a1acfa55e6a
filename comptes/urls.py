from django.urls import path

from .views import account, auth, organisations, password

app_name = "comptes"

urlpatterns = [
    path("inscription/", auth.register, name="register"),
    path("verification/renvoyer/", auth.resend_verification, name="resend_verification"),
    path("verification/<str:token>/", auth.verify_email, name="verify_email"),
    path("connexion/", auth.login_view, name="login"),
    path("connexion/code/", auth.login_code, name="login_code"),
    path("deconnexion/", auth.logout_view, name="logout"),
    path("mot-de-passe/", password.PasswordResetRequestView.as_view(), name="password_reset"),
    path("mot-de-passe/envoye/", password.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "mot-de-passe/nouveau/<uidb64>/<token>/",
        password.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "mot-de-passe/modifie/", password.PasswordResetCompleteView.as_view(), name="password_reset_complete"
    ),
    path("compte/", account.account, name="account"),
    path("compte/profil/", account.profile, name="profile"),
    path("compte/double-authentification/", account.totp_enrol, name="totp_enrol"),
    path("compte/double-authentification/codes-de-secours/", account.recovery_codes, name="recovery_codes"),
    path("compte/double-authentification/desactiver/", account.totp_disable, name="totp_disable"),
    path("compte/phrase-de-seance/", account.ceremony_passphrase, name="ceremony_passphrase"),
    path("compte/jetons/", account.token_create, name="token_create"),
    path("compte/jetons/<int:pk>/revoquer/", account.token_revoke, name="token_revoke"),
    path("organisations/<int:pk>/", organisations.organisation_detail, name="organisation"),
    path("organisations/<int:pk>/invitations/", organisations.invitation_create, name="invitation_create"),
    path(
        "organisations/<int:pk>/invitations/<int:invitation_pk>/annuler/",
        organisations.invitation_revoke,
        name="invitation_revoke",
    ),
    path(
        "organisations/<int:pk>/membres/<int:membership_pk>/role/",
        organisations.membership_role,
        name="membership_role",
    ),
    path(
        "organisations/<int:pk>/membres/<int:membership_pk>/retirer/",
        organisations.membership_remove,
        name="membership_remove",
    ),
    path("invitations/<str:token>/", organisations.invitation, name="invitation"),
]
