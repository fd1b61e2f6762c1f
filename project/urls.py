from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/jobs/", include("jobs_app.urls")),
]

# A request Django refuses before any view (a Host outside ALLOWED_HOSTS): JSON under the API, Django's page elsewhere.
handler400 = "jobs_app.api.errors.bad_request"
