"""Writes the replica test's data (tests/test_replica.py) into the database of DATABASE_URL — that test's own
primary cluster —: the restore drill's small city and cases (tests/drill_cases.py), one more case reported
and not yet registered, a leader, and API tokens for the leader and the operator; prints them as JSON.

    python tests/replica_city.py"""

import json

from drill_cases import city, main  # isort: skip - sets Django up, before any model is imported

from django.contrib.auth.models import User  # noqa: E402
from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402

from citygrid import roles  # noqa: E402
from citygrid.models import ApiToken  # noqa: E402
from incidents import intake  # noqa: E402
from tests.conftest import jpeg, make_user, point_in  # noqa: E402

if __name__ == "__main__":
    registered = main(3, "replica")
    community = city()
    lon, lat = point_in(community)
    reported = intake.submit(intake.Report(lon=lon, lat=lat, category="SJ0102", source="inspector",
                                           description="replica: to be registered",
                                           photos=[SimpleUploadedFile("r.jpg", jpeg(), "image/jpeg")]),
                             reporter=User.objects.get(username="drill_inspector")).case
    leader = make_user("replica_leader", roles.LEADER)
    print(json.dumps({"registered": registered, "reported": reported.number,
                      "leader": ApiToken.issue(leader, "replica test")[1],
                      "operator": ApiToken.issue(User.objects.get(username="drill_operator"), "replica test")[1]}))
