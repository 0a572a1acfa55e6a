from celery import shared_task

from .models import User


@shared_task(name="comptes.tasks.send_verification_email")
def send_verification_email(user_id: int) -> None:
    from .services import email_verification_deliver

    user = User.objects.filter(pk=user_id, email_verified_at__isnull=True).first()
    if user is not None:
        email_verification_deliver(user=user)
