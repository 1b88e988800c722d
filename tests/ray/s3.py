"""What the cloud tests ask of an S3 server (boto3; AWS_* from the
environment), one command per call:

    s3.py upload BUCKET FILE...   create BUCKET, put each FILE as in/NAME,
                                  print their s3:// URLs (a list for -m)
    s3.py put BUCKET KEY FILE
    s3.py exists BUCKET KEY       exit 0 if KEY exists, else 1
    s3.py objects BUCKET PREFIX   "KEY SHA256" for each object below PREFIX/
                                  (KEY relative to it; pixmill's .pixmill/
                                  left out), sorted
"""
import hashlib
import os
import sys

import boto3

s3 = boto3.client("s3")
command, bucket, *rest = sys.argv[1:]
if command == "upload":
    s3.create_bucket(Bucket=bucket)
    for path in rest:
        key = "in/" + os.path.basename(path)
        s3.upload_file(path, bucket, key)
        print(f"s3://{bucket}/{key}")
elif command == "put":
    s3.upload_file(rest[1], bucket, rest[0])
elif command == "exists":
    sys.exit(0 if s3.list_objects_v2(Bucket=bucket, Prefix=rest[0])["KeyCount"] else 1)
elif command == "objects":
    prefix = rest[0].rstrip("/") + "/"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            key = o["Key"][len(prefix):]
            if not key.startswith(".pixmill/"):
                body = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
                print(key, hashlib.sha256(body).hexdigest())
else:
    sys.exit(f"s3.py: unknown command {command}")
