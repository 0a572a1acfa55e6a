from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from comptes.models import Membership

from .errors import ErrorSerializer


class OrganisationRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()
    identifier = serializers.CharField()


class MembershipOutputSerializer(serializers.Serializer):
    organisation = OrganisationRefSerializer()
    role = serializers.CharField()
    role_label = serializers.CharField(source="get_role_display")


class MeOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    two_factor_enabled = serializers.BooleanField(source="has_two_factor")
    memberships = MembershipOutputSerializer(many=True)


class MeView(APIView):
    """The authenticated user, with their organisations and roles."""

    @extend_schema(
        operation_id="me",
        responses={200: MeOutputSerializer, 401: ErrorSerializer, 403: ErrorSerializer},
        tags=["comptes"],
    )
    def get(self, request):
        user = request.user
        memberships = Membership.objects.filter(user=user).select_related("organisation")
        data = MeOutputSerializer(
            {
                "id": user.pk,
                "email": user.email,
                "first_name": user.first_name,
                "last_name": user.last_name,
                "has_two_factor": user.has_two_factor,
                "memberships": memberships,
            }
        ).data
        return Response(data)
