package smoke;

import io.github.cdkserverlessdatapipeline.AccessLevel;
import io.github.cdkserverlessdatapipeline.AnalyticsApi;
import io.github.cdkserverlessdatapipeline.AnalyticsApiAuthorization;
import io.github.cdkserverlessdatapipeline.BuiltInSources;
import io.github.cdkserverlessdatapipeline.CanonicalStore;
import io.github.cdkserverlessdatapipeline.FieldMapping;
import io.github.cdkserverlessdatapipeline.FieldTransform;
import io.github.cdkserverlessdatapipeline.IngestionPipeline;
import io.github.cdkserverlessdatapipeline.InputFormat;
import io.github.cdkserverlessdatapipeline.LambdaTuning;
import io.github.cdkserverlessdatapipeline.Migrations;
import io.github.cdkserverlessdatapipeline.SourceDefinition;
import io.github.cdkserverlessdatapipeline.StoreEngine;
import io.github.cdkserverlessdatapipeline.TransformType;
import io.github.cdkserverlessdatapipeline.UserDefinedOperation;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import software.amazon.awscdk.App;
import software.amazon.awscdk.AppProps;
import software.amazon.awscdk.Stack;
import software.amazon.awscdk.services.lambda.Code;
import software.amazon.awscdk.services.lambda.Function;
import software.amazon.awscdk.services.lambda.Runtime;

/**
 * Java consumer smoke app: composes every construct of the library the way a Java user would
 * (builders, enums, structs, static helpers, grants to the app's own function) and synthesizes
 * into the folder given as the only argument. test/consumers/check-assembly.mjs checks the result.
 * Keep it in step with ../python/app.py: same stack, same checks.
 */
public final class SmokeApp {
  private SmokeApp() {}

  public static void main(final String[] args) {
    if (args.length != 1) {
      throw new IllegalArgumentException("usage: SmokeApp <outdir>");
    }
    Path migrations = Path.of(System.getProperty("smoke.migrations", "../migrations")).toAbsolutePath().normalize();

    App app = new App(AppProps.builder().outdir(args[0]).build());
    Stack stack = new Stack(app, "SmokeJava");

    // --- CanonicalStore ---
    CanonicalStore store = CanonicalStore.Builder.create(stack, "Store")
        .engine(StoreEngine.RDS_POSTGRES)
        .migrations(Migrations.fromDirectory(migrations.toString()))
        .lambdaTuning(LambdaTuning.builder()
            .memorySize(1024)
            .environment(Map.of("POWERTOOLS_LOG_LEVEL", "DEBUG"))
            .build())
        .build();

    // The app's own function, connected as the analytics reader.
    Function reporter = Function.Builder.create(stack, "ConsumerReporter")
        .description("consumer-smoke reporter")
        .runtime(Runtime.NODEJS_22_X)
        .handler("index.handler")
        .code(Code.fromInline("exports.handler = async () => 'ok';"))
        .vpc(store.getVpc())
        .vpcSubnets(store.getVpcSubnets())
        .environment(store.connectionEnvironment(AccessLevel.ANALYTICS_READER))
        .build();
    store.grantConnect(reporter, AccessLevel.ANALYTICS_READER);

    // --- IngestionPipeline: a built-in source and one of the app's own (structs, enums, `any` values) ---
    SourceDefinition partners = SourceDefinition.builder()
        .name("smoke-partners")
        .prefix("partners/")
        .sourceSystem("partner")
        .entityType("customer")
        .format(InputFormat.CSV)
        .sourceIdField("partner_id")
        .canonicalKeyField("email")
        .fields(List.of(
            field("name", "name", transform(TransformType.TRIM)),
            field("email", "email", transform(TransformType.TRIM), transform(TransformType.LOWER)),
            field("since", "signup_date", FieldTransform.builder().type(TransformType.DATE).format("dd/MM/yyyy").build()),
            field("tier", "segment", FieldTransform.builder().type(TransformType.DEFAULT).value("standard").build())))
        // Checked at synth (draft 2020-12, strict): every mapped field is defined here.
        .schema(Map.of(
            "type", "object",
            "required", List.of("partner_id", "email"),
            "properties", Map.of(
                "partner_id", Map.of("type", "string"),
                "name", Map.of("type", "string"),
                "email", Map.of("type", "string"),
                "since", Map.of("type", "string"),
                "tier", Map.of("type", List.of("string", "null")))))
        .build();
    IngestionPipeline ingestion = IngestionPipeline.Builder.create(stack, "Ingestion")
        .store(store)
        .sources(List.of(BuiltInSources.crmCustomers(), partners))
        .build();
    ingestion.onIngestionSucceeded("PartnersLoaded", List.of("smoke-partners"));

    // --- AnalyticsApi: IAM authorization, an operation of the app's own, invoked by the app's function ---
    List<UserDefinedOperation> operations = new ArrayList<>(List.of(UserDefinedOperation.builder()
        .name("customers_in_country")
        .sql("SELECT name, email FROM canonical.customers WHERE country = :country")
        .parameterSchema(Map.of(
            "type", "object",
            "properties", Map.of("country", Map.of("type", "string", "minLength", 2, "maxLength", 2)),
            "required", List.of("country"),
            "additionalProperties", false))
        .build()));
    if (System.getenv("SMOKE_REFUSED_SQL") != null) {
      // The negative case (run.sh): SQL the API's guard refuses is a synth error here too.
      operations.add(UserDefinedOperation.builder().name("purge_customers").sql("DELETE FROM canonical.entities").build());
    }
    AnalyticsApi api = AnalyticsApi.Builder.create(stack, "Analytics")
        .store(store)
        .authorization(AnalyticsApiAuthorization.IAM)
        .userOperations(operations)
        .build();
    api.grantInvoke(reporter);

    app.synth();
  }

  private static FieldTransform transform(final TransformType type) {
    return FieldTransform.builder().type(type).build();
  }

  private static FieldMapping field(final String source, final String target, final FieldTransform... transforms) {
    return FieldMapping.builder().source(source).target(target).transforms(List.of(transforms)).build();
  }
}
