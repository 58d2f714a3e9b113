"""The cold-start and request floor: Flask + flask-smorest, one route of 50 small items.

Like a real API on Lambda it also builds one boto3 DynamoDB client at import, so the floor
pays for botocore's import and endpoint resolution the way a typical Zappa app does.
"""

from __future__ import annotations

import boto3
from flask import Flask
from flask.views import MethodView
from flask_smorest import Api, Blueprint

DYNAMODB = boto3.client("dynamodb", region_name="us-east-1")
ITEMS = [{"id": f"item-{i:02d}", "symbol": "AAPL", "price": "187.25", "quantity": "10"} for i in range(50)]

app = Flask(__name__)
app.config.update(API_TITLE="floor", API_VERSION="v1", OPENAPI_VERSION="3.0.3")
api = Api(app)
blp = Blueprint("items", __name__, url_prefix="/v1/items")


@blp.route("")
class Items(MethodView):
    def get(self) -> dict[str, list[dict[str, str]]]:
        """Fifty small items."""
        return {"items": ITEMS}


api.register_blueprint(blp)
