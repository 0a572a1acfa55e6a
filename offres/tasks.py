from celery import shared_task

from . import deposits, receipts, simulation
from .models import Deposit


@shared_task(name="offres.tasks.receipt_send")
def receipt_send(deposit_pk: int) -> None:
    """E-mail the receipt with its sealed PDF: out of the finalisation's request."""
    deposit = Deposit.objects.select_related("consultation__buyer", "created_by", "company", "timestamp").get(
        pk=deposit_pk
    )
    receipts.send_receipt(deposit)


@shared_task(name="offres.tasks.test_deposit_check")
def test_deposit_check(deposit_pk: int) -> None:
    """Decrypt a deposit of the test consultation once, and store what was found."""
    simulation.check(
        Deposit.objects.select_related("consultation", "company", "created_by").get(pk=deposit_pk)
    )


@shared_task(name="offres.tasks.deposits_abandon_expired")
def deposits_abandon_expired() -> int:
    """Periodic (config/celery.py): abandon the uploads never finalised, a set time after the
    deadline (DEPOSITS_ABANDONED_AFTER_DAYS), deleting their stored chunks."""
    return deposits.abandon_expired()
