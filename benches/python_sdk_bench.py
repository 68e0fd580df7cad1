"""The official Python SDK's by-id call rate, for BENCHMARKS.md: python python_sdk_bench.py ENDPOINT"""
import sys, time
from azure.servicefabric import ServiceFabricClientAPIs
from msrest.authentication import Authentication
sf = ServiceFabricClientAPIs(Authentication(), base_url=sys.argv[1])
n = 2000
sf.get_image_store_upload_session_by_id("4a2340e8-d8d8-497c-95fe-cdaa1052f33b")
t = time.perf_counter()
for _ in range(n):
    r = sf.get_image_store_upload_session_by_id("4a2340e8-d8d8-497c-95fe-cdaa1052f33b")
    assert len(r.upload_sessions) == 1
print(f"python sdk: {n/(time.perf_counter()-t):.0f} calls/s")
