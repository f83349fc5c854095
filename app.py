"""haoping's Lambda functions: only wiring here; handlers translate, services decide."""

from chalice import Chalice, Rate

from chalicelib.handlers import sweep, webhooks, worker

app = Chalice(app_name="haoping")

REVIEW_QUEUE = "haoping-reviews"


@app.route("/webhooks/marketplace", methods=["POST"], content_types=["application/json", "text/plain"])
def marketplace_webhook():
    return webhooks.marketplace_push(app.current_request)


@app.schedule(Rate(1, unit=Rate.MINUTES), name="sweep")
def sweep_due(event):
    return sweep.handle(event, None)


@app.on_sqs_message(queue=REVIEW_QUEUE, batch_size=10, name="worker")
def review_worker(event):
    return worker.handle(event, getattr(app, "lambda_context", None))
