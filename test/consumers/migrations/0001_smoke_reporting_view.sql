-- A user migration read by Migrations.fromDirectory in each consumer app (applied after the library's).
CREATE VIEW canonical.smoke_customer_countries AS
SELECT country, count(*) AS customers FROM canonical.customers GROUP BY country;
