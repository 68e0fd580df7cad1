"""The official Python SDK (azure-servicefabric) against our emulator or a recording stub.

usage: python_sdk.py seeded ENDPOINT   -- check answers against the seeded state
       python_sdk.py targets ENDPOINT  -- send the gateway.md cases (the stub records them)
       python_sdk.py lifecycle ENDPOINT -- the application lifecycle requests (the stub records them)
       python_sdk.py fidelity ENDPOINT SESSION_ID PATH
                                       -- a committed session, name conflicts' messages, and
                                          an operation the emulator does not implement
"""
import json
import sys
import uuid

from azure.servicefabric import ServiceFabricClientAPIs
from msrest.authentication import Authentication

SEED_ID = "4a2340e8-d8d8-497c-95fe-cdaa1052f33b"


def client(endpoint):
    return ServiceFabricClientAPIs(Authentication(), base_url=endpoint)


def all_names(sf, name, recursive):
    """Follows ContinuationToken as a user of this SDK must; returns (names, pages)."""
    names, token, pages = [], None, 0
    while True:
        page = sf.get_sub_name_info_list(name, recursive=recursive, continuation_token=token)
        names += page.sub_names
        pages += 1
        token = page.continuation_token
        if not token:
            return names, pages


def seeded(endpoint):
    sf = client(endpoint)
    by_id = sf.get_image_store_upload_session_by_id(SEED_ID).upload_sessions
    assert len(by_id) == 1, by_id
    s = by_id[0]
    assert s.store_relative_path == "SwaggerTest\\Common.dll", s.store_relative_path
    assert s.file_size == "2097152", s.file_size
    assert [(r.start_position, r.end_position) for r in s.expected_ranges] == [("0", "402128"), ("730105", "2097151")]

    by_path = sf.get_image_store_upload_session_by_path("SwaggerTest\\Common.dll").upload_sessions
    assert {x.session_id for x in by_path} >= {"2032ac6c-a348-4594-86da-dab0f2bb1ae1", "fb2da2b2-7cb4-45d2-a2e6-c4888d205bc5"}, by_path

    direct, _ = all_names(sf, "samples", False)
    assert direct == ["fabric:/samples/CalculatorApp", "fabric:/samples/apps", "fabric:/samples/data", "fabric:/samples/mynames"], direct

    names, pages = all_names(sf, "samples", True)
    assert names == sorted(names) and len(names) == 11, names
    assert "fabric:/samples/apps/PersistentQueueApp" in names

    # The gateway answers 204 for "no session"; this SDK raises on it (8.2.0.0 fails building
    # a FabricErrorException from the empty body: a TypeError).
    raised = None
    try:
        result = sf.get_image_store_upload_session_by_id(str(uuid.uuid4()))
    except Exception as e:
        raised = type(e).__name__
    assert raised, "the SDK was expected to raise on 204, returned %r" % (result,)
    print(json.dumps({"pages": pages, "names": len(names), "sessions_by_path": len(by_path), "raised_on_204": raised}))


def targets(endpoint):
    sf = client(endpoint)
    sf.get_image_store_upload_session_by_id(SEED_ID)
    sf.get_image_store_upload_session_by_path("SwaggerTest\\Common.dll")
    sf.get_image_store_upload_session_by_path("Store/MyApp/Code.zip")
    sf.get_sub_name_info_list("samples/apps")
    sf.get_sub_name_info_list("samples", recursive=True, continuation_token="fabric:/samples/apps/PersistentQueueApp$131439231986491349")


def refusal(call):
    """The (code, message) of the FabricError a call raises."""
    try:
        call()
    except Exception as e:
        error = getattr(getattr(e, "error", None), "error", None)
        assert error is not None, "expected a FabricError, got %r" % (e,)
        return error.code, error.message
    raise AssertionError("the call was expected to fail")


def fidelity(endpoint, session_id, path):
    sf = client(endpoint)
    # A committed session stays listed, complete, and commits again with 200.
    by_id = sf.get_image_store_upload_session_by_id(session_id).upload_sessions
    assert len(by_id) == 1 and by_id[0].expected_ranges == [], by_id
    by_path = sf.get_image_store_upload_session_by_path(path).upload_sessions
    assert [s.session_id for s in by_path] == [session_id], by_path
    sf.commit_image_store_upload_session(session_id)

    # The runtime's texts for the name conflicts.
    sf.create_name("fabric:/fidelity/parent/child")
    conflicts = {
        "exists": refusal(lambda: sf.create_name("fabric:/fidelity/parent/child")),
        "not_empty": refusal(lambda: sf.delete_name("fidelity/parent")),
        "missing": refusal(lambda: sf.delete_name("fidelity/nope")),
    }
    assert conflicts["exists"] == ("FABRIC_E_NAME_ALREADY_EXISTS", "Name already exists."), conflicts
    assert conflicts["not_empty"] == ("FABRIC_E_NAME_NOT_EMPTY", "Name not empty."), conflicts
    assert conflicts["missing"] == ("FABRIC_E_NAME_DOES_NOT_EXIST", "Name does not exist."), conflicts

    # An operation the emulator lacks: the gateway's 400 E_INVALIDARG, saying so.
    code, message = refusal(lambda: sf.get_chaos_schedule())
    assert code == "E_INVALIDARG" and "not implemented by the emulator" in message, (code, message)
    print(json.dumps({"conflicts": conflicts, "not_emulated": message}))


def lifecycle(endpoint):
    """The lifecycle requests a deploy sends (the stub records them)."""
    from azure.servicefabric.models import (ApplicationDescription, ApplicationParameter,
        ApplicationUpgradeDescription, ApplicationUpgradeUpdateDescription,
        MonitoringPolicyDescription, RollingUpgradeUpdateDescription)
    sf = client(endpoint)
    def send(call):
        try:
            call()
        except Exception:
            pass  # the stub's empty answers do not decode; only the requests matter
    send(lambda: sf.get_application_type_info_list())
    send(lambda: sf.get_application_type_info_list_by_name("ShopType"))
    send(lambda: sf.unprovision_application_type("ShopType", application_type_version="1.0.0"))
    send(lambda: sf.create_application(ApplicationDescription(name="fabric:/shop/orders", type_name="ShopType", type_version="1.0.0", parameter_list=[ApplicationParameter(key="A", value="1")])))
    send(lambda: sf.get_application_info_list())
    send(lambda: sf.get_application_info("shop~orders"))
    send(lambda: sf.delete_application("shop~orders", force_remove=True))
    send(lambda: sf.start_application_upgrade("shop~orders", ApplicationUpgradeDescription(name="fabric:/shop/orders", target_application_type_version="2.0.0", parameters=[ApplicationParameter(key="A", value="1")], upgrade_kind="Rolling", rolling_upgrade_mode="Monitored", monitoring_policy=MonitoringPolicyDescription(failure_action="Rollback", health_check_stable_duration_in_milliseconds="PT0H1M0S"))))
    send(lambda: sf.get_application_upgrade("shop~orders"))
    send(lambda: sf.update_application_upgrade("shop~orders", ApplicationUpgradeUpdateDescription(name="fabric:/shop/orders", upgrade_kind="Rolling", update_description=RollingUpgradeUpdateDescription(rolling_upgrade_mode="UnmonitoredAuto"))))
    send(lambda: sf.resume_application_upgrade("shop~orders", "UD1"))
    send(lambda: sf.rollback_application_upgrade("shop~orders"))
    send(lambda: sf.get_application_health("shop~orders"))
    send(lambda: sf.get_service_info_list("shop~orders"))
    send(lambda: sf.get_cluster_version())


if __name__ == "__main__":
    {"seeded": seeded, "targets": targets, "fidelity": fidelity, "lifecycle": lifecycle}[sys.argv[1]](*sys.argv[2:])
