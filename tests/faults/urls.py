"""The project's URLs plus one view that enqueues jobs, as an application's own view would."""

from django.http import JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

from tests.testapp import fault_handlers


@csrf_exempt
def signup(request):
    """Enqueue `count` jobs from a web request, each in the request's transaction."""
    count = int(request.POST.get("count", "1"))
    jobs = [fault_handlers.count.enqueue(request.POST["directory"]) for _ in range(count)]
    return JsonResponse({"jobs": [str(job.pk) for job in jobs]}, status=201)


urlpatterns = [
    path("signup", signup),
    path("", include("project.urls")),
]
