"""e-renseignement: the official note de renseignement urbanistique, asked for, reviewed,
issued.

The public asks at ``/renseignement`` (or ``POST /renseignement/requests``) and follows its
request by a private link; staff review it at ``/renseignement/admin``. Mail goes through
the job queue (``geoportal.jobs``). Everything here reads and writes with the writer's pool:
the read-only role cannot see personal data.
"""
