"""Runs inside .peers/paddlex (never the service's venv): PaddleOCR serving's documented Python
client for the OCR pipeline, re-typed, pointed at us; every request and response is also
validated with PaddleX's own pydantic models (paddlex.inference.serving.schemas.ocr).

Usage: python paddlex_client.py BASE_URL IMAGE PDF OUT_DIR  -> prints one JSON line of findings.
"""

import base64
import json
import sys

import requests
from paddlex.inference.serving.infra.models import AIStudioNoResultResponse, AIStudioResultResponse
from paddlex.inference.serving.schemas.ocr import InferRequest, InferResult

API_URL = sys.argv[1] + "/ocr"
file_path = sys.argv[2]
pdf_path = sys.argv[3]
out_dir = sys.argv[4]

# -- the documented client, as its users wrote it ----------------------------------------------
with open(file_path, "rb") as file:
    file_bytes = file.read()
    file_data = base64.b64encode(file_bytes).decode("ascii")

payload = {"file": file_data, "fileType": 1}

response = requests.post(API_URL, json=payload)
assert response.status_code == 200
result = response.json()["result"]
for i, res in enumerate(result["ocrResults"]):
    ocr_img_path = f"{out_dir}/ocr_{i}.jpg"
    with open(ocr_img_path, "wb") as f:
        f.write(base64.b64decode(res["ocrImage"]))

# -- the protocol's own definitions ------------------------------------------------------------
InferRequest.model_validate(payload)
plain = AIStudioResultResponse[InferResult].model_validate(response.json())

options = InferRequest(
    file=file_data,
    fileType=1,
    useTextlineOrientation=False,
    textDetLimitSideLen=960,
    textDetLimitType="max",
    textDetThresh=0.3,
    textDetBoxThresh=0.6,
    textDetUnclipRatio=1.5,
    textRecScoreThresh=0.5,
    returnWordBox=True,
    visualize=False,
    logId="client-log-1",
)
tuned = requests.post(API_URL, json=options.model_dump(exclude_none=True))
tuned_result = AIStudioResultResponse[InferResult].model_validate(tuned.json())

bad = requests.post(API_URL, json={"file": "not base64!", "fileType": 1})
error = AIStudioNoResultResponse.model_validate(bad.json())

with open(pdf_path, "rb") as file:
    pdf_request = InferRequest(file=base64.b64encode(file.read()).decode("ascii"), fileType=0)
as_pdf = requests.post(API_URL, json=pdf_request.model_dump(exclude_none=True))
pdf_result = AIStudioResultResponse[InferResult].model_validate(as_pdf.json())

pruned = plain.result.ocrResults[0].prunedResult
print(
    json.dumps(
        {
            "rec_texts": pruned["rec_texts"],
            "keys": sorted(pruned),
            "data_info": plain.result.dataInfo.model_dump(),
            "tuned_log_id": tuned_result.logId,
            "tuned_keys": sorted(tuned_result.result.ocrResults[0].prunedResult),
            "tuned_image": tuned_result.result.ocrResults[0].ocrImage,
            "tuned_det": tuned_result.result.ocrResults[0].prunedResult["text_det_params"],
            "pdf_info": pdf_result.result.dataInfo.model_dump(),
            "pdf_texts": [r.prunedResult["rec_texts"] for r in pdf_result.result.ocrResults],
            "bad_status": bad.status_code,
            "bad_code": error.errorCode,
            "bad_msg": error.errorMsg,
        }
    )
)
