"""Direct-to-Azure transfers for benches/azure_throughput.sh.

The account and key come from AZURE_STORAGE_ACCOUNT / AZURE_STORAGE_KEY;
ENDPOINT is the account URL (http://127.0.0.1:PORT/devstoreaccount1 for
Azurite).

  azure_direct.py sas
      Print an account SAS query string (blob service, all resource types,
      read/write/delete/list/add/create, valid for a day), signed with the
      standard library's hmac: what curl uses for the direct requests.
  azure_direct.py mkcontainer ENDPOINT CONTAINER
  azure_direct.py put ENDPOINT CONTAINER BLOB FILE CONCURRENCY
  azure_direct.py get ENDPOINT CONTAINER BLOB CONCURRENCY
      One upload (upload_blob from the open file) or download (readinto
      /dev/null) with the Azure SDK (azure-storage-blob); print the seconds
      the call took, excluding interpreter start-up, imports and client set-up.

A GET checks that it received as many bytes as the blob has.
"""

import base64
import datetime
import hashlib
import hmac
import os
import sys
import time
import urllib.parse

SAS_VERSION = "2020-10-02"  # before 2020-12-06: no encryption-scope line to sign


def account():
    return os.environ["AZURE_STORAGE_ACCOUNT"], os.environ["AZURE_STORAGE_KEY"]


def account_sas():
    name, key = account()
    expiry = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    fields = {"sp": "rwdlac", "ss": "b", "srt": "sco", "st": "", "se": expiry, "sip": "", "spr": "https,http"}
    to_sign = "\n".join(
        [name, fields["sp"], fields["ss"], fields["srt"], fields["st"], fields["se"], fields["sip"], fields["spr"],
         SAS_VERSION, ""]
    )
    sig = base64.b64encode(hmac.new(base64.b64decode(key), to_sign.encode(), hashlib.sha256).digest()).decode()
    query = {"sv": SAS_VERSION, "ss": "b", "srt": "sco", "sp": "rwdlac", "se": expiry, "spr": "https,http", "sig": sig}
    return urllib.parse.urlencode(query, quote_via=urllib.parse.quote)


def service(endpoint):
    from azure.storage.blob import BlobServiceClient

    name, key = account()
    return BlobServiceClient(account_url=endpoint, credential={"account_name": name, "account_key": key})


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "sas":
        print(account_sas())
    elif cmd == "mkcontainer":
        endpoint, container = args
        service(endpoint).create_container(container)
    elif cmd == "put":
        endpoint, container, blob, path, conc = args
        client = service(endpoint).get_blob_client(container, blob)
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            t0 = time.perf_counter()
            client.upload_blob(f, length=size, overwrite=True, max_concurrency=int(conc))
            t1 = time.perf_counter()
        print(f"{t1 - t0:.6f}")
    elif cmd == "get":
        endpoint, container, blob, conc = args
        client = service(endpoint).get_blob_client(container, blob)
        with open(os.devnull, "wb") as f:
            t0 = time.perf_counter()
            stream = client.download_blob(max_concurrency=int(conc))
            n = stream.readinto(f)
            t1 = time.perf_counter()
        if n != stream.size:
            sys.exit(f"GET {blob}: {n} bytes of {stream.size}")
        print(f"{t1 - t0:.6f}")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
