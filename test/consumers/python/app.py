"""Python consumer smoke app: uses the library from the wheel that jsii-pacmak built and synthesizes.

    python app.py <outdir>

Composes every construct of the library the way a Python user would (keyword props, enums,
structs, static helpers, grants to the app's own function); test/consumers/check-assembly.mjs
then asserts on the cloud assembly. Keep it in step with java/ (and go/): same stack, same checks.
"""
import os
import sys

from aws_cdk import App, Stack, aws_lambda as lambda_
from cdk_serverless_data_pipeline import (
    AccessLevel,
    AnalyticsApi,
    AnalyticsApiAuthorization,
    BuiltInSources,
    CanonicalStore,
    FieldMapping,
    FieldTransform,
    IngestionPipeline,
    InputFormat,
    LambdaTuning,
    Migrations,
    SourceDefinition,
    StoreEngine,
    TransformType,
    UserDefinedOperation,
)

HERE = os.path.dirname(os.path.abspath(__file__))


def main(outdir: str) -> None:
    app = App(outdir=outdir)
    stack = Stack(app, "SmokePython")

    # --- CanonicalStore ---
    store = CanonicalStore(
        stack,
        "Store",
        engine=StoreEngine.RDS_POSTGRES,
        migrations=Migrations.from_directory(os.path.join(HERE, "..", "migrations")),
        lambda_tuning=LambdaTuning(memory_size=1024, environment={"POWERTOOLS_LOG_LEVEL": "DEBUG"}),
    )

    # The app's own function, connected as the analytics reader.
    reporter = lambda_.Function(
        stack,
        "ConsumerReporter",
        description="consumer-smoke reporter",
        runtime=lambda_.Runtime.NODEJS_22_X,
        handler="index.handler",
        code=lambda_.Code.from_inline("exports.handler = async () => 'ok';"),
        vpc=store.vpc,
        vpc_subnets=store.vpc_subnets,
        environment=store.connection_environment(AccessLevel.ANALYTICS_READER),
    )
    store.grant_connect(reporter, AccessLevel.ANALYTICS_READER)

    # --- IngestionPipeline: a built-in source and one of the app's own (structs, enums, `any` values) ---
    partners = SourceDefinition(
        name="smoke-partners",
        prefix="partners/",
        source_system="partner",
        entity_type="customer",
        format=InputFormat.CSV,
        source_id_field="partner_id",
        canonical_key_field="email",
        fields=[
            FieldMapping(source="name", target="name", transforms=[FieldTransform(type=TransformType.TRIM)]),
            FieldMapping(
                source="email",
                target="email",
                transforms=[FieldTransform(type=TransformType.TRIM), FieldTransform(type=TransformType.LOWER)],
            ),
            FieldMapping(
                source="since",
                target="signup_date",
                transforms=[FieldTransform(type=TransformType.DATE, format="dd/MM/yyyy")],
            ),
            FieldMapping(
                source="tier",
                target="segment",
                transforms=[FieldTransform(type=TransformType.DEFAULT, value="standard")],
            ),
        ],
        # Checked at synth (draft 2020-12, strict): every mapped field is defined here.
        schema={
            "type": "object",
            "required": ["partner_id", "email"],
            "properties": {
                "partner_id": {"type": "string"},
                "name": {"type": "string"},
                "email": {"type": "string"},
                "since": {"type": "string"},
                "tier": {"type": ["string", "null"]},
            },
        },
    )
    pipeline = IngestionPipeline(
        stack,
        "Ingestion",
        store=store,
        sources=[BuiltInSources.crm_customers(), partners],
    )
    pipeline.on_ingestion_succeeded("PartnersLoaded", ["smoke-partners"])

    # --- AnalyticsApi: IAM authorization, an operation of the app's own, invoked by the app's function ---
    operations = [
        UserDefinedOperation(
            name="customers_in_country",
            sql="SELECT name, email FROM canonical.customers WHERE country = :country",
            parameter_schema={
                "type": "object",
                "properties": {"country": {"type": "string", "minLength": 2, "maxLength": 2}},
                "required": ["country"],
                "additionalProperties": False,
            },
        )
    ]
    if os.environ.get("SMOKE_REFUSED_SQL"):
        # The negative case (run.sh): SQL the API's guard refuses is a synth error here too.
        operations.append(UserDefinedOperation(name="purge_customers", sql="DELETE FROM canonical.entities"))
    api = AnalyticsApi(
        stack,
        "Analytics",
        store=store,
        authorization=AnalyticsApiAuthorization.IAM,
        user_operations=operations,
    )
    api.grant_invoke(reporter)

    app.synth()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: app.py <outdir>")
    main(sys.argv[1])
